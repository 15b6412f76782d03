import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { helper, controlNodes, placed, delay, loggedErrors, recordStatuses, Received } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../lib/mqtt';
import { mosquittoInstalled, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { makeTestCertificates, type TestCertificates } from '../support/test-certificates';
import { subscriptionsAcknowledged } from '../support/broker-link';
import type { BrokerLink } from '../../lib/mqtt';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AbortContext } from '../../lib';

const mqttNodes = [...controlNodes, (require('../../nodes/mqtt').default ?? require('../../nodes/mqtt')) as (red: unknown) => void];

interface CellMqtt {
  estopTopic?: string;
  commandTopic?: string;
  statusTopic?: string;
  heartbeatTopic?: string;
  heartbeat?: string;
  brokerLoss?: 'warn' | 'trip';
}

/** A cell linked to `url`, a sequence "Quick" (ends at once) and "Long" (a 30 s wait), a memory device, a catch node. */
function mqttFlow(url: string, protocol: 4 | 5, cell: CellMqtt, broker: Record<string, unknown> = {}): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'broker', type: 'workcell-mqtt', name: 'test broker', broker: url, protocol: String(protocol), backoffMin: '0.05', backoffMax: '0.2', ...broker },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell M', safeTimeout: '1', stopTimeout: '1', mqtt: 'broker', ...cell },
    { id: 'd1', type: 'workcell-memory-device', name: 'dev1', cell: 'cell', safeGroup: '0', ownership: 'wait' },
    { id: 'quick', type: 'workcell-sequence', z: 't1', name: 'Quick', cell: 'cell', wires: [['started', 'qend'], ['outcome']] },
    { id: 'qend', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'long', type: 'workcell-sequence', z: 't1', name: 'Long', cell: 'cell', wires: [['lwait'], ['outcome']] },
    { id: 'lwait', type: 'workcell-wait', z: 't1', cell: 'cell', mode: 'delay', delay: '30', units: 's', wires: [['lend']] },
    { id: 'lend', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'cs', type: 'workcell-cell-status', z: 't1', cell: 'cell', wires: [[]] },
    { id: 'started', type: 'helper', z: 't1' },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ]);
}

/** A test client: every message it receives, and a way to wait for one that fits. */
class Peer {
  readonly messages: { topic: string; text: string; retain: boolean; correlation?: string }[] = [];
  private readonly arrived = new EventEmitter();
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, text: payload.toString(), retain: packet.retain, correlation: packet.properties?.correlationData?.toString() });
      this.arrived.emit('message');
    });
  }
  static async connect(url: string, options: IClientOptions = {}): Promise<Peer> {
    return new Peer(await connectAsync(url, { reconnectPeriod: 50, ...options }));
  }
  /** The first message on `topic` fitting `fits` (already received or to come), within 5 s. */
  next(topic: string, fits: (m: { text: string; retain: boolean; correlation?: string }) => boolean = () => true, from = 0): Promise<{ text: string; retain: boolean; correlation?: string; json: Record<string, unknown> }> {
    const find = () => this.messages.slice(from).find((m) => m.topic === topic && fits(m));
    return new Promise((resolve, reject) => {
      const done = (m: (typeof this.messages)[number]) => {
        clearTimeout(timer);
        this.arrived.off('message', check);
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(m.text) as Record<string, unknown>;
        } catch {
          // not JSON
        }
        resolve({ ...m, json });
      };
      const check = () => {
        const m = find();
        if (m) done(m);
      };
      const timer = setTimeout(() => {
        this.arrived.off('message', check);
        reject(new Error(`no message on ${topic} within 5 s; got ${JSON.stringify(this.messages)}`));
      }, 5000);
      this.arrived.on('message', check);
      check();
    });
  }
  async end(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Resolves when `check()` holds, looking after every event-loop turn (at most 5 s). */
async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (check()) return;
    await delay(5);
  }
  assert.fail(`timed out waiting until ${what}`);
}

async function connected(cell: () => AbortContext | undefined): Promise<AbortContext> {
  await until('the cell is deployed', () => cell() !== undefined);
  return cell()!;
}

/** The broker node's link is connected (its users have subscribed by then). */
async function linkUp(): Promise<void> {
  const node = helper.getNode('broker') as unknown as { link: BrokerLink };
  await until('the broker link is connected', () => node.link.connected);
  await subscriptionsAcknowledged(node.link);
}

/** A broker a suite runs against: the embedded aedes, or Mosquitto (with a password file). */
interface TestBroker {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

interface BrokerVariant {
  title: string;
  protocol: 4 | 5;
  /** Start the broker (on `port` when given: a restart). */
  start(port?: number): Promise<TestBroker>;
  /** Users of the broker's password file, when it has one: the cell's and the peers'. */
  users?: { cell: [string, string]; peer: [string, string] };
}

const VARIANTS: BrokerVariant[] = [
  { title: 'embedded aedes, MQTT 3.1.1', protocol: 4, start: (port) => startEmbeddedBroker({ port }) },
  {
    title: 'Mosquitto with a password file, MQTT 5',
    protocol: 5,
    start: (port) => startMosquitto({ port, users: { cell: 'secret-1', mes: 'secret-2' } }),
    users: { cell: ['cell', 'secret-1'], peer: ['mes', 'secret-2'] },
  },
  {
    title: 'Mosquitto with a password file, MQTT 3.1.1',
    protocol: 4,
    start: (port) => startMosquitto({ port, users: { cell: 'secret-1', mes: 'secret-2' } }),
    users: { cell: ['cell', 'secret-1'], peer: ['mes', 'secret-2'] },
  },
];

/** Drop the cell's broker connection without a goodbye (its socket destroyed): the broker publishes its will, the link reconnects. */
function dropCellConnection(): void {
  const link = (helper.getNode('broker') as unknown as { link: { client: { stream: { destroy(): void } } } }).link;
  link.client.stream.destroy();
}

for (const variant of VARIANTS) describe(`MQTT: a cell linked to a broker (${variant.title})`, function () {
  let broker: TestBroker;
  let peer: Peer;
  const peerOptions: IClientOptions = { protocolVersion: variant.protocol, ...(variant.users ? { username: variant.users.peer[0], password: variant.users.peer[1] } : {}) };
  const P = variant.protocol;
  /** Load a flow, with the cell's broker credentials when the broker has users. */
  const load = (flow: object[]) => helper.load(mqttNodes, flow, variant.users ? { broker: { user: variant.users.cell[0], password: variant.users.cell[1] } } : {});
  before(() => {
    if (variant.users) assert.ok(mosquittoInstalled(), 'mosquitto is missing: apt-get install -y mosquitto (the MQTT tests need /usr/sbin/mosquitto and mosquitto_passwd)');
  });
  beforeEach(async () => {
    broker = await variant.start();
    peer = await Peer.connect(broker.url, peerOptions);
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    await peer.end();
    await broker.close();
  });

  it('a retained "tripped" trips the cell and keeps reset refused, naming the topic, until "clear"; the trip survives a reconnection', async () => {
    await peer.client.publishAsync('cell/estop', 'tripped', { retain: true, qos: 1 });
    await load(mqttFlow(broker.url, P, { estopTopic: 'cell/estop', commandTopic: 'cell/cmd' }));
    const cell = await connected(() => getCell('cell'));
    await until('the retained stop tripped the cell', () => cell.state === 'aborted');
    assert.match(cell.activeTrips['mqtt-estop'], /remote emergency stop on "cell\/estop"/);
    await assert.rejects(cell.reset('test'), /trip source mqtt-estop is still active \(remote emergency stop on "cell\/estop"; publish "clear" there to release it\)/);

    // The connection drops and comes back: the retained stop arrives again, reset stays refused.
    dropCellConnection();
    const node = helper.getNode('broker') as unknown as { link: { connected: boolean } };
    await until('the link noticed the loss', () => !node.link.connected);
    await linkUp();
    await assert.rejects(cell.reset('test'), /trip source mqtt-estop is still active/);

    await peer.client.publishAsync('cell/estop', JSON.stringify({ state: 'clear', by: 'panel 2' }), { retain: true, qos: 1 });
    await until('the clear arrived', () => cell.activeTrips['mqtt-estop'] === undefined);
    assert.equal(cell.state, 'aborted', 'a clear does not reset the cell');
    await cell.reset('test');
    assert.equal(cell.state, 'ready');
  });

  it('a malformed payload is a logged error that changes nothing: a ready cell stays ready, a tripped cell stays tripped', async () => {
    await load(mqttFlow(broker.url, P, { estopTopic: 'cell/estop' }));
    const cell = await connected(() => getCell('cell'));
    await linkUp();
    await peer.client.publishAsync('cell/estop', 'stop please', { qos: 1 });
    await until('the error is logged', () => loggedErrors().some((e) => /unreadable payload "stop please" \(string\)/.test(e)));
    assert.match(loggedErrors().join('\n'), /cell "Cell M": remote emergency stop on topic "cell\/estop": unreadable payload "stop please" \(string\); expected "tripped", "clear" or .*; nothing changed/);
    assert.equal(cell.state, 'ready');

    await peer.client.publishAsync('cell/estop', JSON.stringify({ state: 'tripped', by: 'MES' }), { qos: 1 });
    await until('tripped', () => cell.state === 'aborted');
    assert.match(cell.activeTrips['mqtt-estop'], / by MES;/);
    await peer.client.publishAsync('cell/estop', JSON.stringify({ state: 'cleared' }), { qos: 1 });
    await until('the second error is logged', () => loggedErrors().some((e) => /the remote emergency stop stays tripped/.test(e)));
    assert.ok(cell.activeTrips['mqtt-estop'], 'still tripped');
    await assert.rejects(cell.reset('test'), /mqtt-estop/);
  });

  it('commands on the reply topic with the id: start a sequence by name with parameters (answered started, then ended), hold, resume, cancel, clear; the id correlates; a refusal is answered', async () => {
    await load(mqttFlow(broker.url, P, { commandTopic: 'cell/cmd' }));
    const cell = await connected(() => getCell('cell'));
    await linkUp();
    await peer.client.subscribeAsync('cell/cmd/reply', { qos: 1 });
    const started = new Received(helper.getNode('started'));
    const send = (body: object) => peer.client.publishAsync('cell/cmd', JSON.stringify(body), { qos: 1 });

    await send({ command: 'start', sequence: 'Quick', parameters: { recipe: 'A', count: 3 }, id: 'c1', by: 'MES' });
    const first = await peer.next('cell/cmd/reply', (m) => m.text.includes('"c1"'));
    assert.deepEqual({ ...first.json, run: typeof first.json.run }, { id: 'c1', command: 'start', ok: true, event: 'started', cell: 'Cell M', sequence: 'Quick', run: 'string' });
    const ended = await peer.next('cell/cmd/reply', (m) => m.text.includes('"c1"') && m.text.includes('"ended"'));
    assert.equal(ended.json.run, first.json.run);
    assert.equal(ended.json.outcome, 'completed');
    assert.equal(ended.json.ok, true);
    const injected = await started.nth(1);
    assert.deepEqual(injected.payload, { recipe: 'A', count: 3 });
    assert.equal(injected.source, 'mqtt cell/cmd (MES)');

    await send({ command: 'start', sequence: 'Long', id: 'c2' });
    const long = await peer.next('cell/cmd/reply', (m) => m.text.includes('"c2"'));
    await send({ command: 'start', sequence: 'Long', id: 'c3' });
    const busy = await peer.next('cell/cmd/reply', (m) => m.text.includes('"c3"'));
    assert.equal(busy.json.ok, false);
    assert.match(String(busy.json.error), /sequence "Long": refused a new start: run .* is still in progress/);

    await send({ command: 'hold', id: 'c4' });
    assert.deepEqual((await peer.next('cell/cmd/reply', (m) => m.text.includes('"c4"'))).json, { id: 'c4', command: 'hold', ok: true, cell: 'Cell M', state: 'held' });
    // A start while held waits at the sequence's input (a checkpoint): no "started" until resume.
    await send({ command: 'start', sequence: 'Quick', id: 'h1' });
    await send({ command: 'reset', id: 'h2' }); // answered after the cell has taken h1
    await peer.next('cell/cmd/reply', (m) => m.text.includes('"h2"'));
    assert.equal(peer.messages.some((m) => m.text.includes('"h1"')), false, 'no answer to a start while held');
    await send({ command: 'resume', id: 'c5' });
    assert.equal((await peer.next('cell/cmd/reply', (m) => m.text.includes('"c5"'))).json.state, 'running');
    assert.equal((await peer.next('cell/cmd/reply', (m) => m.text.includes('"h1"') && m.text.includes('"ended"'))).json.outcome, 'completed');
    await send({ command: 'cancel', run: long.json.run, id: 'c6' });
    const cancelled = await peer.next('cell/cmd/reply', (m) => m.text.includes('"c6"'));
    assert.equal(cancelled.json.ok, true);
    const longEnded = await peer.next('cell/cmd/reply', (m) => m.text.includes('"c2"') && m.text.includes('"ended"'));
    assert.equal(longEnded.json.outcome, 'cancelled');
    assert.equal(longEnded.json.ok, false);

    await send({ command: 'start', sequence: 'Nope', id: 'c7' });
    assert.match(String((await peer.next('cell/cmd/reply', (m) => m.text.includes('"c7"'))).json.error), /cannot start sequence "Nope" in cell "Cell M": it has no deployed sequence node of that name/);
    await send({ command: 'launch', id: 'c8' });
    assert.match(String((await peer.next('cell/cmd/reply', (m) => m.text.includes('"c8"'))).json.error), /unknown command "launch" \(string\); expected one of start, hold, resume, reset, cancel, clear/);
    await send({ command: 'reset', id: 'c9' });
    assert.match(String((await peer.next('cell/cmd/reply', (m) => m.text.includes('"c9"'))).json.error), /cannot reset cell "Cell M": it is ready, not aborted/);
    await cell.estop('test');
    await send({ command: 'clear', device: 'dev1', id: 'c10' });
    // clear reaches the cell's clearDevice: a device that owes nothing is refused, with why.
    const clear = (await peer.next('cell/cmd/reply', (m) => m.text.includes('"c10"'))).json;
    assert.equal(clear.ok, false);
    assert.match(String(clear.error), /cannot clear device "dev1" of cell "Cell M": it owes nothing/);
    await send({ command: 'reset', id: 'c11' });
    assert.deepEqual((await peer.next('cell/cmd/reply', (m) => m.text.includes('"c11"'))).json, { id: 'c11', command: 'reset', ok: true, cell: 'Cell M', state: 'ready' });
    // A command published retained runs once, live; the broker's replay at a reconnection is refused.
    await peer.client.publishAsync('cell/cmd', JSON.stringify({ command: 'hold', id: 'r1' }), { qos: 1, retain: true });
    assert.equal((await peer.next('cell/cmd/reply', (m) => m.text.includes('"r1"'))).json.state, 'held');
    await cell.resume('test');
    const n = peer.messages.length;
    dropCellConnection();
    assert.match(String((await peer.next('cell/cmd/reply', (m) => m.text.includes('"r1"'), n)).json.error), /MQTT command on "cell\/cmd" refused: it is a retained message/);
    assert.equal(cell.state, 'ready');
    await peer.client.publishAsync('cell/cmd', '', { qos: 1, retain: true });
  });

  it('status: retained JSON republished on change; the last will says offline when the connection is lost, a graceful close too', async () => {
    await load(mqttFlow(broker.url, P, { statusTopic: 'cell/status' }));
    const cell = await connected(() => getCell('cell'));
    await linkUp();
    const watcher = await Peer.connect(broker.url, peerOptions);
    try {
      await watcher.client.subscribeAsync('cell/status', { qos: 1 });
      const first = await watcher.next('cell/status', (m) => m.retain);
      assert.equal(first.json.state, 'ready');
      assert.equal(first.json.online, true);
      assert.deepEqual((first.json.devices as { device: string }[]).map((d) => d.device), ['dev1']);
      const from = watcher.messages.length;
      await cell.estop('test stop');
      const tripped = await watcher.next('cell/status', (m) => m.text.includes('"aborted"'), from);
      assert.equal(tripped.json.online, true);
      // Coalesced: the whole stop (aborting, aborted, device health) is a few messages, not one per event.
      assert.ok(watcher.messages.length - from <= 3, `status messages for one stop: ${watcher.messages.length - from}`);

      // The connection drops: when the cell's link is back, it publishes its status again.
      const beforeDrop = watcher.messages.length;
      dropCellConnection();
      await watcher.next('cell/status', (m) => m.text.includes('"online":true'), beforeDrop);
      const n = watcher.messages.length;
      await helper.unload();
      assert.deepEqual((await watcher.next('cell/status', (m) => m.text.includes('"offline"'), n)).json, { cell: 'Cell M', online: false, state: 'offline' });
      // Teardown finished before Node-RED was told the nodes were done: the broker already holds
      // the offline status as the retained one when unload returns.
      const late = await Peer.connect(broker.url, peerOptions);
      try {
        await late.client.subscribeAsync('cell/status', { qos: 1 });
        assert.deepEqual((await late.next('cell/status', (m) => m.retain)).json, { cell: 'Cell M', online: false, state: 'offline' });
      } finally {
        await late.end();
      }
    } finally {
      await watcher.end();
    }
  });

  it('the last will is the offline status: published by the broker when the connection drops without a goodbye', async () => {
    await load(mqttFlow(broker.url, P, { statusTopic: 'cell/status' }, { backoffMin: '2', backoffMax: '2' }));
    await connected(() => getCell('cell'));
    await linkUp();
    await peer.client.subscribeAsync('cell/status', { qos: 1 });
    await peer.next('cell/status', (m) => m.text.includes('"online":true'));
    const n = peer.messages.length;
    dropCellConnection();
    const will = await peer.next('cell/status', (m) => m.text.includes('"offline"'), n);
    assert.deepEqual(will.json, { cell: 'Cell M', online: false, state: 'offline' });
  });

  it('the heartbeat topic feeds the dead-man watchdog: beats keep the cell ready, their loss trips it', async () => {
    await load(mqttFlow(broker.url, P, { heartbeatTopic: 'cell/hb', heartbeat: '0.3' }));
    const cell = await connected(() => getCell('cell'));
    await linkUp();
    for (let i = 0; i < 6; i++) {
      await peer.client.publishAsync('cell/hb', String(i), { qos: 1 });
      await delay(100);
    }
    assert.equal(cell.state, 'ready');
    await until('the heartbeat is lost', () => cell.state === 'aborted');
    assert.match(cell.activeTrips.heartbeat, /heartbeat lost: none within 300 ms/);
  });

  it('a lost broker connection is a trip source when configured (reset refused until it is back), otherwise a warning', async () => {
    await load(mqttFlow(broker.url, P, { estopTopic: 'cell/estop', brokerLoss: 'trip' }));
    const cell = await connected(() => getCell('cell'));
    await linkUp();
    await broker.close();
    await until('the loss tripped the cell', () => cell.state === 'aborted');
    assert.match(cell.activeTrips['mqtt-link'], /MQTT broker "test broker": connection lost: /);
    await assert.rejects(cell.reset('test'), /trip source mqtt-link is still active/);
    broker = await variant.start(broker.port); // afterEach closes this one
    await linkUp();
    await until('the link source cleared', () => cell.activeTrips['mqtt-link'] === undefined);
    await cell.reset('test');
    assert.equal(cell.state, 'ready');
  });

  it('with "warn", a lost broker connection is logged and the cell keeps running; the cell status node shows the connection', async () => {
    const recorded = recordStatuses();
    try {
      await load(mqttFlow(broker.url, P, { estopTopic: 'cell/estop' }, { backoffMin: '0.5', backoffMax: '0.5' }));
      const cell = await connected(() => getCell('cell'));
      await linkUp();
      assert.deepEqual(recorded.statuses.get('cs'), { fill: 'green', shape: 'dot', text: 'ready · MQTT connected' });
      dropCellConnection();
      await until('a warning', () => (helper.log().args as [{ level: number; msg: unknown }][]).some(([e]) => e.level === 30 && /connection lost/.test(String(e.msg))));
      assert.equal(cell.state, 'ready');
      assert.deepEqual(recorded.statuses.get('cs'), { fill: 'green', shape: 'ring', text: 'ready · MQTT disconnected' });
      await linkUp();
      assert.equal(recorded.statuses.get('cs')?.text, 'ready · MQTT connected');
      // A broker that stays away: retried, but told once per loss.
      const link = (helper.getNode('broker') as unknown as { link: NodeJS.EventEmitter }).link;
      let failures = 0;
      link.on('state', (c: { state: string }) => (failures += c.state === 'disconnected' ? 1 : 0));
      await broker.close();
      await until('two failed retries after the loss', () => failures >= 3);
      const cellWarnings = (helper.log().args as [{ level: number; msg: unknown }][]).filter(([e]) => e.level === 30 && /^cell "Cell M": .*connection lost/.test(String(e.msg)));
      assert.equal(cellWarnings.length, 2, 'one warning for each of the two losses');
    } finally {
      recorded.stop();
    }
  });

  it('a cell whose broker node is missing does not start: its nodes refuse with the reason', async () => {
    const flow = mqttFlow(broker.url, P, { estopTopic: 'cell/estop' }).filter((n) => (n as { id: string }).id !== 'broker');
    await load(flow);
    assert.equal(getCell('cell'), undefined);
    assert.match(loggedErrors().join('\n'), /cell "Cell M": its MQTT broker node broker is not deployed/);
  });
});

describe('MQTT: against Mosquitto with credentials and MQTT 5', function () {
  let mosquitto: Mosquitto;
  before(() => {
    // Like every tool the suite needs (test/system-packages.test.ts): missing, it fails with the package to install.
    assert.ok(mosquittoInstalled(), 'mosquitto is missing: apt-get install -y mosquitto (the MQTT tests need /usr/sbin/mosquitto and mosquitto_passwd)');
  });
  beforeEach(async () => {
    mosquitto = await startMosquitto({ users: { cell: 'secret-1', mes: 'secret-2' } });
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    await mosquitto.close();
  });

  const credentials = (password: string) => ({ broker: { user: 'cell', password } });

  it('MQTT 5: a command is answered on its response topic with its correlation data; the remote stop trips and clears', async () => {
    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 5, { estopTopic: 'line/estop', commandTopic: 'line/cmd', statusTopic: 'line/status' }), credentials('secret-1'));
    const cell = await connected(() => getCell('cell'));
    await linkUp();
    const mes = await Peer.connect(mosquitto.url, { protocolVersion: 5, username: 'mes', password: 'secret-2' });
    try {
      await mes.client.subscribeAsync('mes/answers', { qos: 1 });
      await mes.client.publishAsync('line/cmd', JSON.stringify({ command: 'start', sequence: 'Quick', parameters: { n: 1 } }), {
        qos: 1,
        properties: { responseTopic: 'mes/answers', correlationData: Buffer.from('corr-42') },
      });
      const first = await mes.next('mes/answers', (m) => m.text.includes('"started"'));
      assert.equal(first.correlation, 'corr-42');
      const ended = await mes.next('mes/answers', (m) => m.text.includes('"ended"'));
      assert.equal(ended.correlation, 'corr-42');
      assert.equal(ended.json.outcome, 'completed');

      await mes.client.publishAsync('line/estop', 'tripped', { qos: 1, retain: true });
      await until('tripped', () => cell.state === 'aborted');
      await mes.client.publishAsync('line/cmd', JSON.stringify({ command: 'reset' }), { qos: 1, properties: { responseTopic: 'mes/answers', correlationData: Buffer.from('corr-43') } });
      const refused = await mes.next('mes/answers', (m) => m.correlation === 'corr-43');
      assert.equal(refused.json.ok, false);
      assert.match(String(refused.json.error), /trip source mqtt-estop is still active/);
      await mes.client.publishAsync('line/estop', 'clear', { qos: 1, retain: true });
      await until('cleared', () => cell.activeTrips['mqtt-estop'] === undefined);
      await mes.client.publishAsync('line/cmd', JSON.stringify({ command: 'reset' }), { qos: 1, properties: { responseTopic: 'mes/answers', correlationData: Buffer.from('corr-44') } });
      assert.equal((await mes.next('mes/answers', (m) => m.correlation === 'corr-44')).json.state, 'ready');
      await mes.client.subscribeAsync('line/status', { qos: 1 });
      assert.equal((await mes.next('line/status', (m) => m.retain)).json.state, 'ready');
    } finally {
      await mes.end();
    }
  });

  it('MQTT 3.1.1 against Mosquitto: the reply topic with the id; wrong credentials are refused and, configured so, trip the cell', async () => {
    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 4, { commandTopic: 'line/cmd' }), credentials('secret-1'));
    await connected(() => getCell('cell'));
    await linkUp();
    const mes = await Peer.connect(mosquitto.url, { protocolVersion: 4, username: 'mes', password: 'secret-2' });
    try {
      await mes.client.subscribeAsync('line/cmd/reply', { qos: 1 });
      await mes.client.publishAsync('line/cmd', JSON.stringify({ command: 'hold', id: 7 }), { qos: 1 });
      assert.deepEqual((await mes.next('line/cmd/reply')).json, { id: 7, command: 'hold', ok: true, cell: 'Cell M', state: 'held' });
    } finally {
      await mes.end();
    }
    await helper.unload();

    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 5, { estopTopic: 'line/estop', brokerLoss: 'trip' }), credentials('wrong'));
    const cell = await connected(() => getCell('cell'));
    await until('the refusal tripped the cell', () => cell.state === 'aborted');
    assert.match(cell.activeTrips['mqtt-link'], /connection lost: .*(Not authorized|Bad User Name or Password)/i);
  });
});

describe('MQTT: TLS against Mosquitto (a throw-away CA)', function () {
  let mosquitto: Mosquitto;
  let certs: TestCertificates;
  before(async () => {
    assert.ok(mosquittoInstalled(), 'mosquitto is missing: apt-get install -y mosquitto');
    certs = await makeTestCertificates();
    mosquitto = await startMosquitto({ tls: { ca: certs.ca, cert: certs.serverCert, key: certs.serverKey } });
  });
  after(async () => {
    await mosquitto?.close();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('connects with the CA by path, and with the CA as a credential (PEM text)', async () => {
    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 5, { estopTopic: 'tls/estop' }, { caPath: certs.ca }));
    await connected(() => getCell('cell'));
    await linkUp();
    await helper.unload();
    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 5, { estopTopic: 'tls/estop' }), { broker: { ca: readFileSync(certs.ca, 'utf8') } });
    await connected(() => getCell('cell'));
    await linkUp();
  });

  it('a broker certificate its CA did not sign is refused (and trips the cell when so configured); without verification it connects', async () => {
    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 5, { estopTopic: 'tls/estop', brokerLoss: 'trip' }, { caPath: certs.otherCa }));
    const cell = await connected(() => getCell('cell'));
    await until('the refused connection tripped the cell', () => cell.state === 'aborted');
    assert.match(cell.activeTrips['mqtt-link'], /connection lost: .*(certificate|self.signed|verify)/i);
    await helper.unload();
    forgetLatches();
    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 5, { estopTopic: 'tls/estop' }, { rejectUnauthorized: false }));
    await connected(() => getCell('cell'));
    await linkUp();
  });

  it('an unreadable CA file: the broker node says so and its cell does not start', async () => {
    await helper.load(mqttNodes, mqttFlow(mosquitto.url, 5, { estopTopic: 'tls/estop' }, { caPath: '/nonexistent/ca.pem' }));
    assert.equal(getCell('cell'), undefined);
    assert.match(loggedErrors().join('\n'), /MQTT broker "test broker": cannot read the CA certificate file "\/nonexistent\/ca\.pem": ENOENT/);
  });
});

describe('MQTT: a cell latched by a remote stop across a restart of Node-RED', function () {
  let userDir: string;
  let broker: EmbeddedBroker;
  beforeEach(async () => {
    userDir = mkdtempSync(join(tmpdir(), 'workcell-mqtt-latch-'));
    helper.settings({ userDir });
    broker = await startEmbeddedBroker();
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    helper.settings({ userDir: undefined });
    rmSync(userDir, { recursive: true, force: true });
    await broker.close();
  });

  it('comes back with the remote stop active: reset is refused before the broker has said anything, until "clear"', async () => {
    const peer = await Peer.connect(broker.url, { protocolVersion: 4 });
    try {
      await helper.load(mqttNodes, mqttFlow(broker.url, 4, { estopTopic: 'cell/estop' }));
      const cell = await connected(() => getCell('cell'));
      await linkUp();
      // Not retained: after the restart the broker has nothing to say about it.
      await peer.client.publishAsync('cell/estop', 'tripped', { qos: 1 });
      await until('tripped', () => cell.state === 'aborted');
      await helper.unload();
      forgetLatches();
      await helper.load(mqttNodes, mqttFlow(broker.url, 4, { estopTopic: 'cell/estop' }));
      const again = getCell('cell')!;
      assert.equal(again.state, 'aborted');
      await assert.rejects(again.reset('test'), /trip source mqtt-estop is still active \(remote emergency stop on "cell\/estop" latched the cell before it started; publish "clear" there to release it\)/);
      await linkUp();
      await peer.client.publishAsync('cell/estop', 'clear', { qos: 1 });
      await until('cleared', () => again.activeTrips['mqtt-estop'] === undefined);
      await again.reset('test');
      assert.equal(again.state, 'ready');
    } finally {
      await peer.end();
    }
  });
});
