import assert from 'node:assert/strict';
import { AbortContext } from '../../lib/cell';
import { GrblGantry } from '../../lib/devices/gantry';
import { GrblSimulator, Realtime } from '../../lib/simulators/grbl';
import { adoptDevice, parkDevice } from '../../nodes/shared/parked-devices';
import type { RedAPI } from '../../nodes/shared/red';
import { waitForStatus } from '../support/device-health';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import type { DeviceConfigNode } from '../../nodes/shared/device-nodes';
import { controlNodes, delay, helper, loggedErrors, placed } from '../support/flow-harness';
import { NodeRedProcess, startNodeRed } from '../support/node-red-process';

/** The simulator's travel; GRBL's soft limits on, homing on: it boots locked. */
const TRAVEL = { x: { min: -300, max: 0 }, y: { min: -300, max: 0 }, z: { min: -100, max: 0 } };

/**
 * A cell with a gantry, and `POST /gantry {operation, params}` running one gantry operation:
 * its result (200), or the step's error message (500) through a Catch node.
 */
function flows(grblPort: number, gantry: Record<string, unknown> = {}): object[] {
  return [
    { id: 't1', type: 'tab', label: 'keep' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell K', safeTimeout: '3', stopTimeout: '2' },
    {
      id: 'mill', type: 'workcell-gantry-device', name: 'Mill', address: `tcp://127.0.0.1:${grblPort}`, pollInterval: '50',
      xMin: '-290', xMax: '0', yMin: '-290', yMax: '0', zMin: '', zMax: '', allowUnlock: false, safeSpindleOff: true, safeCoolantOff: true,
      estopHold: '0', cancelHold: '2000', programDir: '', cell: 'cell', safeGroup: '0', ownership: 'wait', critical: false, ...gantry,
    },
    { id: 'in', type: 'http in', z: 't1', url: '/gantry', method: 'post', x: 100, y: 100, wires: [['ask']] },
    { id: 'ask', type: 'function', z: 't1', func: 'msg.operation = msg.payload.operation;\nmsg.params = msg.payload.params || {};\nreturn msg;', outputs: 1, x: 250, y: 100, wires: [['step']] },
    { id: 'step', type: 'workcell-gantry', z: 't1', device: 'mill', x: 400, y: 100, wires: [['out']] },
    { id: 'out', type: 'http response', z: 't1', x: 550, y: 100, wires: [] },
    { id: 'catch', type: 'catch', z: 't1', scope: ['step'], uncaught: false, x: 100, y: 200, wires: [['failed']] },
    { id: 'failed', type: 'function', z: 't1', func: 'msg.statusCode = 500;\nmsg.payload = { error: msg.error.message };\nreturn msg;', outputs: 1, x: 250, y: 200, wires: [['out']] },
  ];
}

/** Runs one gantry operation through the flow: the HTTP status and the body. */
async function gantry(nr: NodeRedProcess, operation: string, params: Record<string, unknown> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${nr.url}gantry`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ operation, params }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A full deploy of `flows`, as the editor's Deploy button does by default; resolves once the new flows have started. */
async function deployFull(nr: NodeRedProcess, next: object[]): Promise<void> {
  const started = nr.logs.filter((l) => /\[info\] Started flows/.test(l)).length;
  const current = (await (await fetch(`${nr.url}flows`, { headers: { 'Node-RED-API-Version': 'v2' } })).json()) as { rev: string };
  const res = await fetch(`${nr.url}flows`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
    body: JSON.stringify({ rev: current.rev, flows: next }),
  });
  assert.equal(res.status, 200, await res.text());
  const deadline = Date.now() + 15_000;
  while (nr.logs.filter((l) => /\[info\] Started flows/.test(l)).length <= started) {
    if (Date.now() > deadline) throw new Error(`the flows did not start again:\n${nr.logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Polls the status operation until the gantry answers it. */
async function answering(nr: NodeRedProcess): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await gantry(nr, 'status');
    if (r.status === 200) return r.body;
    if (Date.now() > deadline) throw new Error(`the gantry did not answer: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

describe('a full deploy keeps the connection of a device whose configuration is unchanged (a real Node-RED process)', function () {
  this.timeout(60_000);
  let sim: GrblSimulator;
  let nr: NodeRedProcess | undefined;
  let attaches: number;

  beforeEach(async () => {
    sim = new GrblSimulator({ timeScale: 10, softLimits: TRAVEL });
    attaches = 0;
    sim.on('attach', () => attaches++);
  });
  afterEach(async () => {
    await nr?.stop();
    nr = undefined;
    await sim.close();
  });

  it('homed, then a full deploy of the same flows: the next move works without homing and GRBL saw no reconnect; a changed gantry configuration reconnects', async () => {
    const port = (await sim.listen({ port: 0 })).port;
    const unchanged = flows(port);
    nr = await startNodeRed({ flows: unchanged });
    await answering(nr);
    assert.deepEqual((await gantry(nr, 'home')).status, 200);
    assert.equal(sim.homed, true);
    assert.equal(attaches, 1);

    await deployFull(nr, unchanged);
    const moved = await gantry(nr, 'move', { x: -20, y: -30, feed: 3000 });
    assert.deepEqual(moved, { status: 200, body: { state: 'Idle', machine: { x: -20, y: -30, z: -1 }, work: { x: -20, y: -30, z: -1 } } });
    assert.equal(attaches, 1, 'the connection was kept: the controller was not reset');
    assert.equal(sim.homed, true);

    // Another status poll period: a configuration that differs makes a new driver.
    await deployFull(nr, flows(port, { pollInterval: '60' }));
    const status = await answering(nr);
    assert.equal(attaches, 2, 'a new connection');
    assert.equal(status.positionTrusted, false, 'the new connection reset the board (as a USB serial line does): not homed');
    const refused = await gantry(nr, 'move', { x: -10, feed: 3000 });
    assert.deepEqual(refused, { status: 500, body: { error: 'WorkcellError: Mill: move refused: the position can no longer be trusted; home the device first' } });
    assert.ok(!nr.logs.some((l) => /\[(error|warn)\] \[/.test(l)), `no node logged an error or a warning:\n${nr.logs.join('\n')}`);
  });
});

describe('which devices a deploy keeps connected (node-red-node-test-helper)', function () {
  this.timeout(20_000);
  const gantryNodes = require('../../nodes/gantry') as { default?: (red: unknown) => void };
  const nodes = [...controlNodes, (gantryNodes.default ?? gantryNodes) as (red: unknown) => void];
  let sim: GrblSimulator;
  let port: number;
  let attaches: number;

  beforeEach(async () => {
    sim = new GrblSimulator({ timeScale: 10, homingEnabled: false });
    attaches = 0;
    sim.on('attach', () => attaches++);
    port = (await sim.listen({ port: 0 })).port;
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    await sim.close();
  });

  const testFlow = (cell: Record<string, unknown> = {}) => placed(flows(port).filter((n) => (n as { type: string }).type.startsWith('workcell-') || (n as { type: string }).type === 'tab').map((n) => ((n as { id: string }).id === 'cell' ? { ...n, ...cell } : n)));
  const device = () => (helper.getNode('mill') as unknown as DeviceConfigNode).device;
  async function ready(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (getCell('cell')?.devices.find((d) => d.device === 'Mill')?.status !== 'ready') {
      if (Date.now() > deadline) throw new Error(`Mill not ready: ${JSON.stringify(getCell('cell')?.devices)}`);
      await delay(10);
    }
  }

  it('an unchanged device is the same driver after a full deploy, in the new cell, and the controller saw one connection', async () => {
    await helper.load(nodes, testFlow());
    await ready();
    const first = device();
    const firstCell = getCell('cell');
    await helper.setFlows(testFlow(), 'full');
    assert.equal(device(), first, 'adopted');
    assert.notEqual(getCell('cell'), firstCell, 'a new cell');
    await ready();
    assert.equal(attaches, 1);
    assert.deepEqual(loggedErrors(), []);
  });

  it('a device whose cell has tripped is not kept: after the deploy it is a new driver on a new connection', async () => {
    await helper.load(nodes, testFlow());
    await ready();
    const first = device();
    await getCell('cell')!.estop('test');
    await helper.setFlows(testFlow(), 'full');
    assert.notEqual(device(), first);
    assert.equal(first!.status, 'disconnected');
    await ready();
    assert.equal(attaches, 2);
  });

  it('a device whose cell does not come back (its configuration refused) is closed, not kept', async () => {
    await helper.load(nodes, testFlow());
    await ready();
    const first = device()!;
    await helper.setFlows(testFlow({ safeTimeout: 'abc' }), 'full');
    assert.equal(device(), undefined);
    const deadline = Date.now() + 5000;
    while (first.status !== 'disconnected') {
      if (Date.now() > deadline) throw new Error(`the kept driver was not closed: ${first.status}`);
      await delay(10);
    }
    assert.equal(first.health.detail, 'closed');
  });

  it('Node-RED stopping its flows (not a deploy) closes the device', async () => {
    await helper.load(nodes, testFlow());
    await ready();
    const first = device()!;
    await helper.unload();
    assert.deepEqual([first.status, first.health.detail], ['disconnected', 'closed']);
  });
});

describe('a parked driver (parked-devices.ts, with the runtime of node-red-node-test-helper)', function () {
  this.timeout(20_000);
  let sim: GrblSimulator;
  let g: GrblGantry;
  /** The runtime's own events (flows:started), from the helper's Node-RED. */
  let RED: RedAPI;

  beforeEach(async () => {
    sim = new GrblSimulator({ timeScale: 10, homingEnabled: false });
    const { port } = await sim.listen({ port: 0 });
    g = new GrblGantry({ name: 'Mill', address: `tcp://127.0.0.1:${port}`, pollIntervalMs: 50 });
    const ready = waitForStatus(g, 'ready');
    await g.open();
    await ready;
    await helper.load(controlNodes, placed([{ id: 't1', type: 'tab', label: 'test' }]));
    RED = { events: (helper as unknown as { _events: RedAPI['events'] })._events } as RedAPI;
  });
  afterEach(async () => {
    await helper.unload();
    await g.close();
    await sim.close();
  });

  it('if the cell it left trips while it is parked, it gets the stop and is closed', async () => {
    const cell = new AbortContext({ name: 'cell' });
    cell.addDevice(g);
    cell.removeDevice(g);
    parkDevice(RED, 'mill', { device: g, digest: 'd', close: () => g.close(), cell }, 10_000);
    await cell.estop('test');
    await waitForStatus(g, 'disconnected');
    assert.deepEqual(sim.receivedRealtime.filter((r) => r.byte !== Realtime.StatusReport).map((r) => r.name), ['FeedHold', 'Reset']);
    assert.equal(adoptDevice('mill', 'd').device, undefined, 'no longer parked');
  });

  it('one no node adopted is closed once the new flows have started', async () => {
    parkDevice(RED, 'mill', { device: g, digest: 'd', close: () => g.close() }, 10_000);
    await helper.setFlows(placed([{ id: 't1', type: 'tab', label: 'test' }]), 'full');
    await waitForStatus(g, 'disconnected');
    assert.equal(g.health.detail, 'closed');
  });

  it('one no node adopted is closed after the bound when no flows start', async () => {
    parkDevice(RED, 'mill', { device: g, digest: 'd', close: () => g.close() }, 50);
    await waitForStatus(g, 'disconnected');
    assert.equal(adoptDevice('mill', 'd').device, undefined);
  });

  it('a node whose digest differs does not get it: it is closed first', async () => {
    parkDevice(RED, 'mill', { device: g, digest: 'd', close: () => g.close() }, 10_000);
    const kept = adoptDevice('mill', 'other');
    assert.equal(kept.device, undefined);
    await kept.closing;
    assert.equal(g.status, 'disconnected');
  });
});
