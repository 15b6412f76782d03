import assert from 'node:assert/strict';
import { helper, Received, delay } from '../support/flow-harness';
import { LogRecorder } from '../support/node-red-log';
import { CORE_NODES, Payload, checkExampleLog, example, examples, loadExample, until } from '../support/example-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { nodeTypes, startDemoSimulators, DemoSimulators } from '../../lib/demo';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../lib/mqtt';
import { connectAsync, type MqttClient } from 'mqtt';
import type { FlowNode } from '../../lib/demo/examples';

/** Resolves once the run of the cell `cellId` is in the step `step` (or in any step, without one). */
const inStep = (cellId: string, step?: string) =>
  until(() => {
    const at = getCell(cellId)?.activeRuns[0]?.step;
    return step === undefined ? at !== undefined : at === step;
  });

describe('examples/ (Import › Examples)', function () {
  this.timeout(30_000);
  let simulators: DemoSimulators | undefined;
  let broker: EmbeddedBroker | undefined;
  const savedEnv: Record<string, string | undefined> = {};

  before(async () => {
    // Example flows name the demo simulators' addresses as ${GANTRY_ADDRESS} and the like.
    // Ten times real speed: homing takes under a second instead of seven.
    simulators = await startDemoSimulators({ timeScale: 10 });
    // The MQTT example names its broker ${MQTT_BROKER}: the demo's embedded one.
    broker = await startEmbeddedBroker();
    for (const [k, v] of Object.entries({ ...simulators.env, MQTT_BROKER: broker.url })) {
      savedEnv[k] = process.env[k];
      process.env[k] = v;
    }
  });
  after(async () => {
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await simulators?.close();
    await broker?.close();
  });
  let log: LogRecorder;
  beforeEach(() => {
    log = new LogRecorder();
  });
  afterEach(async () => {
    log.stop();
    await helper.unload();
    forgetLatches();
  });

  const stopAndCheckLog = () => checkExampleLog(log);

  it('there are examples, named "NN Title.json", with the control example first', () => {
    assert.ok(examples.length >= 1);
    for (const e of examples) assert.match(e.label, /^\d\d [A-Z]/, `${e.label}: a numbered title`);
    assert.equal(examples[0].label, '01 Cancellable sequence and emergency stop');
    const types = nodeTypes(examples[0]);
    for (const t of types) assert.ok(t.startsWith('workcell-') ? !/gantry|instrument|serial/.test(t) : t in CORE_NODES, `example 01 uses control and core nodes only, not ${t}`);
  });

  for (const e of examples) {
    it(`"${e.label}" reads left to right: every wire goes right, each node leaves room for its status, comments are on the canvas`, () => {
      const placed = e.nodes.filter((n) => typeof n.x === 'number' && typeof n.y === 'number') as (FlowNode & { x: number; y: number; name?: string; wires?: string[][] })[];
      const byId = new Map(placed.map((n) => [n.id, n]));
      for (const n of placed) {
        for (const out of n.wires ?? []) {
          for (const target of out) {
            const t = byId.get(target)!;
            assert.ok(t.x > n.x, `the wire ${n.id} → ${target} goes right (${n.x} → ${t.x})`);
          }
        }
        // A comment's box is about its text wide, centred on x: it must start on the canvas.
        if (n.type === 'comment') assert.ok(n.x - (6.5 * (n.name ?? '').length + 50) / 2 >= 0, `comment "${n.name}" starts on the canvas (x ${n.x})`);
      }
      // In one row (the same y, give or take), a node whose status shows under it (Workcell
      // nodes, debug nodes showing their status) keeps the next node far enough right for it.
      const showsStatus = (n: FlowNode & { tostatus?: boolean }) => n.type.startsWith('workcell-') || (n.type === 'debug' && n.tostatus === true);
      for (const a of placed) {
        if (a.type === 'comment' || !showsStatus(a)) continue;
        for (const b of placed) {
          if (b === a || b.type === 'comment' || Math.abs(b.y - a.y) >= 40 || b.x < a.x) continue;
          assert.ok(b.x - a.x >= 175, `${b.id} sits on the status of ${a.id} (${b.x - a.x} px right of it in the same row)`);
        }
      }
    });

    it(`"${e.label}" deploys with every node created, and no node logs an error or a warning`, async () => {
      await loadExample(e);
      await stopAndCheckLog();
    });
  }

  describe('01 Cancellable sequence and emergency stop, end to end', () => {
    const flow = () => example('01 ');

    it('start run: three steps, then the outcome "completed", once', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc01-outcome'));
      helper.getNode('wc01-start').receive({});
      const o = (await outcome.nth(1, 15_000)).payload as Payload;
      assert.equal(o.outcome, 'completed');
      assert.ok((o.durationMs as number) >= 6000 - 50, `three 2 s steps, took ${o.durationMs} ms`);
      await delay(50);
      assert.equal(outcome.messages.length, 1);
      await stopAndCheckLog();
    });

    it('E-stop mid-step: outcome "aborted", the cell latches, a new start is refused, reset re-enables it', async () => {
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc01-outcome'));
      const control = new Received(helper.getNode('wc01-control-out'));
      const errors = new Received(helper.getNode('wc01-errors'));
      helper.getNode('wc01-start').receive({});
      await inStep('wc01-cell', 'step 1: 2 s');
      helper.getNode('wc01-estop-in').receive({});
      const o = (await outcome.nth(1)).payload as Payload;
      assert.equal(o.outcome, 'aborted');
      assert.equal(o.step, 'step 1: 2 s');
      assert.equal(((await control.nth(1)).payload as Payload).state, 'aborted');

      helper.getNode('wc01-start').receive({});
      const refused = (await errors.nth(1)).error as { message: string };
      assert.match(refused.message, /cell "Demo cell A" is aborted/);

      helper.getNode('wc01-reset-in').receive({});
      assert.equal(((await control.nth(2)).payload as Payload).state, 'ready');
      await stopAndCheckLog();
    });

    it('cancel run cancels the remembered run: outcome "cancelled", the cell stays ready', async () => {
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc01-outcome'));
      const control = new Received(helper.getNode('wc01-control-out'));
      helper.getNode('wc01-start').receive({});
      await inStep('wc01-cell', 'step 1: 2 s');
      await until(() => helper.getNode('wc01-remember').context().flow.get('run') !== undefined); // the run id the cancel sends
      helper.getNode('wc01-cancel-in').receive({});
      const o = (await outcome.nth(1)).payload as Payload;
      assert.equal(o.outcome, 'cancelled');
      const c = (await control.nth(1)).payload as Payload;
      assert.equal(c.run, o.run);
      assert.equal(c.state, 'ready');
      await stopAndCheckLog();
    });

    it('hold keeps the next step at its checkpoint; resume lets the run complete', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc01-outcome'));
      const control = new Received(helper.getNode('wc01-control-out'));
      helper.getNode('wc01-start').receive({});
      await inStep('wc01-cell', 'step 1: 2 s');
      helper.getNode('wc01-hold-in').receive({});
      assert.equal(((await control.nth(1)).payload as Payload).state, 'held');
      await delay(2500);
      assert.equal(outcome.messages.length, 0, 'held: the run does not move on');
      helper.getNode('wc01-resume-in').receive({});
      assert.equal(((await outcome.nth(1, 15_000)).payload as Payload).outcome, 'completed');
      await stopAndCheckLog();
    });
  });

  describe('03 Parallel branches where one failure cancels the rest, end to end', () => {
    const flow = () => example('03 ');

    it('with a part present both branches run and the run completes', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc03-outcome'));
      helper.getNode('wc03-part-in').receive({});
      await until(() => helper.getNode('wc03-set-part').context().flow.get('partPresent') === true);
      helper.getNode('wc03-start').receive({});
      const o = (await outcome.nth(1, 15_000)).payload as Payload;
      assert.equal(o.outcome, 'completed');
      assert.ok((o.durationMs as number) >= 3000 - 50, `pick and place took ${o.durationMs} ms: the run waited for the slower branch`);
      await delay(50);
      assert.equal(outcome.messages.length, 1);
      await stopAndCheckLog();
    });

    it('with no part the check times out: the run ends there, and the pick in flight is cancelled (place never runs)', async () => {
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc03-outcome'));
      const errors = new Received(helper.getNode('wc03-errors'));
      const placed = new Received(helper.getNode('wc03-place'));
      const pickStatuses: { text?: string }[] = [];
      helper.getNode('wc03-pick').on('call:status', (call: { args: [{ text?: string }] }) => pickStatuses.push(call.args[0]));
      helper.getNode('wc03-start').receive({});
      const o = (await outcome.nth(1, 10_000)).payload as Payload;
      assert.equal(o.outcome, 'timed-out');
      assert.equal(o.step, 'part present?');
      assert.match(((await errors.nth(1)).error as { message: string }).message, /part present\?/);
      // The pick in flight was cut off by the run's end, and its message went no further.
      while (!pickStatuses.some((st) => /^timed-out/.test(st.text ?? ''))) await delay(10);
      assert.equal(placed.messages.length, 0, 'place never ran');
      assert.deepEqual(
        errors.messages.map((m) => (m.error as { source: { id: string } }).source.id),
        ['wc03-check'],
        'the failure is reported once, by the branch that failed; the branch it cut off reports none',
      );
      await stopAndCheckLog();
    });

    it('E-stop mid-job: outcome "aborted" in both branches at once; reset, and the next job completes', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc03-outcome'));
      const control = new Received(helper.getNode('wc03-control-out'));
      helper.getNode('wc03-part-in').receive({});
      await until(() => helper.getNode('wc03-set-part').context().flow.get('partPresent') === true);
      helper.getNode('wc03-start').receive({});
      await inStep('wc03-cell');
      helper.getNode('wc03-estop-in').receive({});
      assert.equal(((await outcome.nth(1)).payload as Payload).outcome, 'aborted');
      assert.equal(((await control.nth(1)).payload as Payload).state, 'aborted');
      helper.getNode('wc03-reset-in').receive({});
      assert.equal(((await control.nth(2)).payload as Payload).state, 'ready');
      helper.getNode('wc03-start').receive({});
      assert.equal(((await outcome.nth(2, 15_000)).payload as Payload).outcome, 'completed');
      await stopAndCheckLog();
    });
  });

  describe('04 Gantry job with an emergency stop, end to end against the demo router', () => {
    const flow = () => example('04 ');

    async function routerReady(): Promise<void> {
      for (;;) {
        const d = getCell('wc04-cell')?.devices.find((h) => h.device === 'Router');
        if (d?.status === 'ready') return;
        await delay(20);
      }
    }

    it('start job: homes, spindle on, engraves, spindle off, parks; outcome "completed"', async function () {
      this.timeout(30_000);
      await loadExample(flow());
      await routerReady();
      const outcome = new Received(helper.getNode('wc04-outcome'));
      const errors = new Received(helper.getNode('wc04-errors'));
      let cutWithSpindleOn = false;
      const router = simulators!.router;
      const watch = setInterval(() => {
        if (router.machinePosition.z < -0.5 && router.spindle.on) cutWithSpindleOn = true;
      }, 5);
      try {
        helper.getNode('wc04-start').receive({});
        const o = (await outcome.nth(1, 25_000)).payload as Payload;
        assert.equal(o.outcome, 'completed', `outcome ${JSON.stringify(o)}; errors: ${JSON.stringify(errors.messages.map((m) => (m.error as { message: string }).message))}`);
      } finally {
        clearInterval(watch);
      }
      assert.ok(cutWithSpindleOn, 'the router cut below the surface with the spindle on');
      assert.equal(router.spindle.on, false);
      assert.deepEqual(router.machinePosition, { x: -5, y: -5, z: -2 });
      await stopAndCheckLog();
    });

    it('E-stop mid-cut: outcome "aborted" at the engraving, the router halted in alarm with its spindle off; reset, then a new job homes and completes', async function () {
      this.timeout(60_000);
      await loadExample(flow());
      await routerReady();
      const outcome = new Received(helper.getNode('wc04-outcome'));
      const control = new Received(helper.getNode('wc04-control-out'));
      const router = simulators!.router;
      helper.getNode('wc04-start').receive({});
      while (!(router.state === 'Run' && router.spindle.on && router.machinePosition.z < -0.5)) await delay(5);
      helper.getNode('wc04-estop-in').receive({});
      const o = (await outcome.nth(1)).payload as Payload;
      assert.equal(o.outcome, 'aborted');
      assert.equal(o.step, 'engrave');
      const report = ((await control.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
      assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['Router', 'stopped', 'safe']]);
      assert.equal(router.state, 'Alarm');
      assert.equal(router.spindle.on, false, 'the spindle is off');
      helper.getNode('wc04-reset-in').receive({});
      assert.equal(((await control.nth(2)).payload as Payload).state, 'ready');
      helper.getNode('wc04-start').receive({});
      assert.equal(((await outcome.nth(2, 30_000)).payload as Payload).outcome, 'completed');
      assert.deepEqual(router.machinePosition, { x: -5, y: -5, z: -2 });
      await stopAndCheckLog();
    });
  });

  describe('05 Hold and resume, end to end', () => {
    const flow = () => example('05 ');

    it('hold mid-batch: the node where the message waits says "held" and the run waits; resume: it completes', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc05-outcome'));
      const control = new Received(helper.getNode('wc05-control-out'));
      const statuses: { text?: string }[] = [];
      helper.getNode('wc05-load').on('call:status', (call: { args: [{ text?: string }] }) => statuses.push(call.args[0]));
      helper.getNode('wc05-start').receive({});
      await inStep('wc05-cell', 'load');
      helper.getNode('wc05-hold-in').receive({});
      assert.equal(((await control.nth(1)).payload as Payload).state, 'held');
      // "load" ends (1 s): its message waits there before going on, for as long as the hold lasts.
      await until(() => statuses.some((s) => s.text === 'held'));
      await delay(500);
      assert.ok(statuses.some((s) => s.text === 'held'), `load says held: ${JSON.stringify(statuses)}`);
      assert.equal(outcome.messages.length, 0, 'held: the run does not move on');
      helper.getNode('wc05-resume-in').receive({});
      assert.equal(((await control.nth(2)).payload as Payload).state, 'running');
      assert.equal(((await outcome.nth(1, 15_000)).payload as Payload).outcome, 'completed');
      await stopAndCheckLog();
    });

    it('E-stop while held: outcome "aborted"; reset, and the next batch completes', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const outcome = new Received(helper.getNode('wc05-outcome'));
      const control = new Received(helper.getNode('wc05-control-out'));
      helper.getNode('wc05-start').receive({});
      await inStep('wc05-cell', 'load');
      helper.getNode('wc05-hold-in').receive({});
      assert.equal(((await control.nth(1)).payload as Payload).state, 'held');
      helper.getNode('wc05-estop-in').receive({});
      assert.equal(((await outcome.nth(1)).payload as Payload).outcome, 'aborted');
      helper.getNode('wc05-reset-in').receive({});
      await control.nth(3);
      assert.equal(((control.messages[2]).payload as Payload).state, 'ready');
      helper.getNode('wc05-start').receive({});
      assert.equal(((await outcome.nth(2, 15_000)).payload as Payload).outcome, 'completed');
      await stopAndCheckLog();
    });
  });

  describe('02 Gantry and DMM demo cell, end to end against the demo simulators', () => {
    const flow = () => example('02 ');

    /** Resolves once every device of the example's cell reports ready. */
    async function devicesReady(ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms;
      for (;;) {
        const devices = getCell('wc02-cell')?.devices ?? [];
        if (devices.length === 3 && devices.every((d) => d.status === 'ready')) return;
        if (Date.now() > deadline) throw new Error(`devices not ready: ${JSON.stringify(devices)}`);
        await delay(20);
      }
    }

    it('start scan: homes, powers CH1, measures at A, B and C, powers off, parks; outcome "completed"', async () => {
      await loadExample(flow());
      await devicesReady();
      const outcome = new Received(helper.getNode('wc02-outcome'));
      const readings = new Received(helper.getNode('wc02-reading'));
      const errors = new Received(helper.getNode('wc02-errors'));
      let poweredWhileMeasuring = 0;
      simulators!.dmm.on('reading', () => {
        if (simulators!.psu.output(1).enabled) poweredWhileMeasuring++;
      });
      helper.getNode('wc02-start').receive({});
      const o = (await outcome.nth(1, 25_000)).payload as Payload;
      assert.equal(o.outcome, 'completed', `outcome ${JSON.stringify(o)}; errors: ${JSON.stringify(errors.messages.map((m) => (m.error as { message: string }).message))}`);
      assert.equal(readings.messages.length, 3);
      // The DMM measures what CH1 (5 V) feeds the part, where the probe touches it: the track's
      // voltage at X -60, -150 and -240 (lib/demo/part-under-test.ts), within the meter's noise.
      const volts = readings.messages.map((r) => (r.payload as { value: number; unit: string }).value);
      assert.deepEqual(readings.messages.map((r) => (r.payload as { unit: string }).unit), ['V', 'V', 'V']);
      [4, 2.5, 1].forEach((expected, i) => assert.ok(Math.abs(volts[i] - expected) < 1e-3, `reading ${i + 1}: ${volts[i]} V, expected ${expected} V`));
      assert.ok(poweredWhileMeasuring >= 3, 'the DMM measured while CH1 was on');
      assert.deepEqual(simulators!.gantry.machinePosition, { x: -5, y: -5, z: -2 });
      assert.equal(simulators!.psu.output(1).enabled, false, 'CH1 is off after the scan');
      await stopAndCheckLog();
    });

    it('E-stop mid-move: outcome "aborted", the gantry halted in alarm with its position untrusted, the PSU outputs off; reset, then a new scan homes and completes', async function () {
      this.timeout(60_000);
      await loadExample(flow());
      await devicesReady();
      const outcome = new Received(helper.getNode('wc02-outcome'));
      const control = new Received(helper.getNode('wc02-control-out'));
      const gantry = simulators!.gantry;
      helper.getNode('wc02-start').receive({});
      // Trip while the gantry is on its way to B.
      const deadline = Date.now() + 20_000;
      while (!(gantry.state === 'Run' && gantry.machinePosition.x < -70)) {
        assert.ok(Date.now() < deadline, `the gantry never moved towards B (state ${gantry.state}, at ${JSON.stringify(gantry.machinePosition)})`);
        await delay(5);
      }
      assert.equal(simulators!.psu.output(1).enabled, true, 'CH1 is on during the scan');
      helper.getNode('wc02-estop-in').receive({});
      const o = (await outcome.nth(1)).payload as Payload;
      assert.equal(o.outcome, 'aborted');
      assert.equal(o.step, 'move to B', 'the outcome says which of the moves: the node the run was in');
      const report = ((await control.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
      assert.deepEqual(
        report.devices.map((d) => [d.device, d.stop, d.safe]).sort(),
        [['DMM', 'stopped', 'safe'], ['Gantry', 'stopped', 'safe'], ['PSU', 'stopped', 'safe']],
      );
      assert.equal(gantry.state, 'Alarm');
      const stoppedAt = gantry.machinePosition;
      assert.ok(stoppedAt.x > -150, `halted before B, at ${JSON.stringify(stoppedAt)}`);
      assert.equal(simulators!.psu.outputs.every((c) => !c.enabled), true, 'every PSU output is off');
      assert.equal(getCell('wc02-cell')!.devices.find((d) => d.device === 'Gantry')!.positionTrusted, false, 'the gantry no longer trusts its position');

      helper.getNode('wc02-reset-in').receive({});
      assert.equal(((await control.nth(2)).payload as Payload).state, 'ready');
      helper.getNode('wc02-start').receive({});
      const again = (await outcome.nth(2, 25_000)).payload as Payload;
      assert.equal(again.outcome, 'completed');
      assert.deepEqual(gantry.machinePosition, { x: -5, y: -5, z: -2 });
      await stopAndCheckLog();
    });
  });
  describe('06 MQTT remote start, remote stop and heartbeat, end to end against the embedded broker', () => {
    const flow = () => example('06 ');
    let client: MqttClient;
    const received: { topic: string; json: Payload; text: string }[] = [];
    beforeEach(async () => {
      received.length = 0;
      client = await connectAsync(broker!.url, { protocolVersion: 4, reconnectPeriod: 0 });
      client.on('message', (topic, payload) => {
        let json: Payload = {};
        try {
          json = JSON.parse(payload.toString()) as Payload;
        } catch {
          // text
        }
        received.push({ topic, json, text: payload.toString() });
      });
      await client.subscribeAsync('workcell/demo/#', { qos: 1 });
    });
    afterEach(async () => {
      // No retained stop or status is left for the next test.
      await client.publishAsync('workcell/demo/estop', '', { qos: 1, retain: true });
      await client.publishAsync('workcell/demo/status', '', { qos: 1, retain: true });
      await client.endAsync();
    });

    async function reply(fits: (m: Payload) => boolean, ms = 15_000): Promise<Payload> {
      const deadline = Date.now() + ms;
      for (;;) {
        const m = received.find((r) => r.topic === 'workcell/demo/command/reply' && fits(r.json));
        if (m) return m.json;
        assert.ok(Date.now() < deadline, `no reply fits; got ${JSON.stringify(received)}`);
        await delay(10);
      }
    }

    it('a remote start runs "Remote job" to completion, answered started then ended; the in-flow supervisor publishes its heartbeat', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const cell = getCell('wc09-cell')!;
      await until(() => received.some((r) => r.topic === 'workcell/demo/status' && r.json.online === true));
      await client.publishAsync('workcell/demo/command', JSON.stringify({ command: 'start', sequence: 'Remote job', parameters: { recipe: 'A' }, id: 'job-1' }), { qos: 1 });
      const started = await reply((m) => m.id === 'job-1' && m.event === 'started');
      const ended = await reply((m) => m.id === 'job-1' && m.event === 'ended');
      assert.equal(ended.run, started.run);
      assert.equal(ended.outcome, 'completed');
      assert.ok(received.some((r) => r.topic === 'workcell/demo/heartbeat' && r.text === 'alive'), 'the in-flow supervisor beats on the heartbeat topic');
      assert.equal(cell.state, 'ready');
      await stopAndCheckLog();
    });

    it('a retained remote stop mid-run aborts the run; reset is refused until "clear", then a reset command re-enables the cell', async function () {
      this.timeout(20_000);
      await loadExample(flow());
      const cell = getCell('wc09-cell')!;
      await until(() => received.some((r) => r.topic === 'workcell/demo/status' && r.json.online === true));
      await client.publishAsync('workcell/demo/command', JSON.stringify({ command: 'start', sequence: 'Remote job', id: 'job-2' }), { qos: 1 });
      await reply((m) => m.id === 'job-2' && m.event === 'started');
      await client.publishAsync('workcell/demo/estop', 'tripped', { qos: 1, retain: true });
      const ended = await reply((m) => m.id === 'job-2' && m.event === 'ended');
      assert.equal(ended.outcome, 'aborted');
      await until(() => cell.state === 'aborted');
      await client.publishAsync('workcell/demo/command', JSON.stringify({ command: 'reset', id: 'r1' }), { qos: 1 });
      assert.match(String((await reply((m) => m.id === 'r1')).error), /trip source mqtt-estop is still active \(remote emergency stop on "workcell\/demo\/estop"/);
      await client.publishAsync('workcell/demo/estop', 'clear', { qos: 1, retain: true });
      await until(() => cell.activeTrips['mqtt-estop'] === undefined);
      await client.publishAsync('workcell/demo/command', JSON.stringify({ command: 'reset', id: 'r2' }), { qos: 1 });
      assert.equal((await reply((m) => m.id === 'r2')).state, 'ready');
      await stopAndCheckLog();
    });
  });
});
