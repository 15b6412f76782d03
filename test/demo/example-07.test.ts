import assert from 'node:assert/strict';
import { helper, Received } from '../support/flow-harness';
import { LogRecorder } from '../support/node-red-log';
import { Payload, checkExampleLog, example, loadExample, until } from '../support/example-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { startDemoSimulators, thermocoupleVolts, type DemoSimulators } from '../../lib/demo';
import type { ExampleFlow, FlowNode } from '../../lib/demo/examples';

/**
 * The example flow with its own timings shortened for a test, as the simulators are sped up:
 * the ramp ten times steeper (and the furnace's fastest ramp rate with it), the dwell 1 s.
 * Everything else, wiring and devices, is the example as it ships.
 */
function quickened(e: ExampleFlow): FlowNode[] {
  return e.nodes.map((n) => {
    const copy = JSON.parse(JSON.stringify(n)) as FlowNode & { params?: Record<string, unknown> };
    if (copy.id === 'wc07-ramp') copy.params = { ...copy.params, rate: 6000 };
    if (copy.id === 'wc07-dwell') copy.params = { ...copy.params, dwell: 1 };
    if (copy.id === 'wc07-furnace') copy.maxRampRate = '6000';
    return copy;
  });
}

/** Device names of a stop report, sorted. */
const names = (m: { device: string }[]) => m.map((d) => d.device).sort();

describe('07 Heat treat and press cycle behind interlocks, end to end against the demo simulators', function () {
  this.timeout(60_000);
  let simulators: DemoSimulators;
  const savedEnv: Record<string, string | undefined> = {};
  let log: LogRecorder;

  before(async () => {
    // Ten times real speed, as the other example tests; the furnace lives 20 times faster again.
    simulators = await startDemoSimulators({ timeScale: 10 });
    for (const [k, v] of Object.entries(simulators.env)) {
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
  });
  beforeEach(() => {
    log = new LogRecorder();
  });
  afterEach(async () => {
    log.stop();
    await helper.unload();
    forgetLatches();
  });

  async function load(): Promise<void> {
    const e = example('07 ');
    await loadExample({ ...e, nodes: quickened(e) });
    await until(() => {
      const devices = getCell('wc07-cell')?.devices ?? [];
      return devices.length === 4 && devices.every((d) => d.status === 'ready');
    });
  }

  it('start heat treat: run, ramp to 120 °C, dwell while the DMM logs the thermocouple, cool to 80 °C; outcome "completed", the setpoint never written to EEPROM', async () => {
    await load();
    const furnace = simulators.modbus.furnace;
    const outcome = new Received(helper.getNode('wc07-outcome-ht'));
    const readings = new Received(helper.getNode('wc07-reading'));
    const errors = new Received(helper.getNode('wc07-errors'));
    helper.getNode('wc07-start-ht').receive({});
    const o = (await outcome.nth(1, 45_000)).payload as Payload;
    assert.equal(o.outcome, 'completed', `outcome ${JSON.stringify(o)}; errors: ${JSON.stringify(errors.messages.map((m) => (m.error as { message: string }).message))}`);
    assert.ok(readings.messages.length >= 1, 'the DMM logged the thermocouple during the dwell');
    // The log begins as the dwell does (the test's ramp is steep, so the furnace may still be
    // catching up) and ends as the cooling begins; within it the furnace held 120 ± 3 °C.
    const volts = readings.messages.map((r) => (r.payload as { value: number }).value);
    for (const v of volts) assert.ok(v < thermocoupleVolts(125), `a thermocouple reading of ${v} V is a furnace at most 125 °C`);
    assert.ok(volts.some((v) => Math.abs(v - thermocoupleVolts(120)) <= thermocoupleVolts(3)), `a reading of the dwell at 120 ± 3 °C among ${volts.join(', ')} V`);
    assert.equal(furnace.model.target, 80, 'the setpoint is 80 °C after the cooling step');
    assert.ok(Math.abs(furnace.model.temperatureC - 80) < 5, `cooled to about 80 °C, at ${furnace.model.temperatureC}`);
    assert.equal(furnace.eepromWrites, 0, 'no write went to the EEPROM target setpoint');
    await checkExampleLog(log);
  });

  it('start press cycle: the gripper takes the part, the press closes to 40 kN, retracts, the gripper lets go; nothing unsafe happened', async () => {
    await load();
    const { press, gripper } = simulators.modbus;
    const cyclesBefore = press.cycles;
    const outcome = new Received(helper.getNode('wc07-outcome-press'));
    const result = new Received(helper.getNode('wc07-cycle-result'));
    helper.getNode('wc07-start-press').receive({});
    assert.equal(((await outcome.nth(1, 20_000)).payload as Payload).outcome, 'completed');
    const r = (await result.nth(1)).payload as { force: number; target: string };
    assert.equal(r.target, 'force');
    assert.ok(r.force >= 40, `pressed to ${r.force} kN`);
    assert.equal(press.cycles, cyclesBefore + 1);
    assert.equal(press.ramAtTop, true);
    assert.equal(gripper.cylinder(0).position, 0, 'the gripper let go of the part');
    assert.equal(press.unsafeEvents, 0, press.unsafeLog.join('; '));
    await checkExampleLog(log);
  });

  it('E-stop mid-ramp: outcome "aborted"; the furnace holds, then goes to its safe setpoint in standby; reset, then a heat treat completes', async () => {
    await load();
    const furnace = simulators.modbus.furnace;
    const outcome = new Received(helper.getNode('wc07-outcome-ht'));
    const control = new Received(helper.getNode('wc07-control-out'));
    helper.getNode('wc07-start-ht').receive({});
    // Trip while the run is in its ramp and the setpoint has not reached 120 °C yet.
    await until(() => getCell('wc07-cell')?.activeRuns[0]?.step === 'ramp to 120 °C' && furnace.model.target < 120);
    helper.getNode('wc07-estop-in').receive({});
    const o = (await outcome.nth(1)).payload as Payload;
    assert.equal(o.outcome, 'aborted');
    assert.equal(o.step, 'ramp to 120 °C');
    const report = ((await control.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
    assert.deepEqual(names(report.devices), ['Furnace', 'Furnace DMM', 'Gripper', 'Press']);
    for (const d of report.devices) assert.deepEqual([d.device, d.stop, d.safe], [d.device, 'stopped', 'safe']);
    assert.equal(furnace.model.target, 25, 'the safe setpoint');
    assert.equal(furnace.model.running, false, 'the controller is in standby: heater off');
    assert.equal(furnace.eepromWrites, 0);

    helper.getNode('wc07-reset-in').receive({});
    assert.equal(((await control.nth(2)).payload as Payload).state, 'ready');
    helper.getNode('wc07-start-ht').receive({});
    assert.equal(((await outcome.nth(2, 45_000)).payload as Payload).outcome, 'completed', 'the run starts the controller again');
    await checkExampleLog(log);
  });

  it('E-stop mid-cycle: outcome "aborted"; the ram stopped and back at the top, no weld current, the gripper open; reset, then a cycle completes', async () => {
    await load();
    const { press, gripper } = simulators.modbus;
    const outcome = new Received(helper.getNode('wc07-outcome-press'));
    const control = new Received(helper.getNode('wc07-control-out'));
    helper.getNode('wc07-start-press').receive({});
    await until(() => press.state === 'pressing' || press.state === 'holding');
    helper.getNode('wc07-estop-in').receive({});
    const o = (await outcome.nth(1)).payload as Payload;
    assert.equal(o.outcome, 'aborted');
    assert.equal(o.step, 'press 40 kN, hold 0.5 s');
    const report = ((await control.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
    for (const d of report.devices) assert.deepEqual([d.device, d.stop, d.safe], [d.device, 'stopped', 'safe']);
    assert.equal(press.ramAtTop, true, 'the safe routine retracted the ram');
    assert.equal(press.weldCurrentKa, 0);
    assert.equal(press.weldEnabled, false);
    assert.equal(gripper.cylinder(0).position, 0, 'the gripper opened in safe group 1');
    assert.equal(press.unsafeEvents, 0, press.unsafeLog.join('; '));

    helper.getNode('wc07-reset-in').receive({});
    assert.equal(((await control.nth(2)).payload as Payload).state, 'ready');
    helper.getNode('wc07-start-press').receive({});
    assert.equal(((await outcome.nth(2, 20_000)).payload as Payload).outcome, 'completed');
    await checkExampleLog(log);
  });

  it('the guard opened mid-cycle: the press stops the cycle, the critical press trips the cell, reset is refused naming the guard until it is closed', async () => {
    await load();
    const { press } = simulators.modbus;
    const outcome = new Received(helper.getNode('wc07-outcome-press'));
    const control = new Received(helper.getNode('wc07-control-out'));
    const errors = new Received(helper.getNode('wc07-errors'));
    helper.getNode('wc07-start-press').receive({});
    await until(() => press.state === 'pressing' || press.state === 'advancing');
    press.openInterlock('guard');
    try {
      const o = (await outcome.nth(1)).payload as Payload;
      assert.equal(o.outcome, 'aborted', 'the trip of the critical press aborted the run');
      await until(() => getCell('wc07-cell')?.state === 'aborted');
      assert.equal(press.unsafeEvents, 0, press.unsafeLog.join('; '));
      helper.getNode('wc07-reset-in').receive({});
      const refused = (await errors.nth(1)).error as { message: string };
      assert.match(refused.message, /guard/i, 'the refusal names the open guard');
      assert.equal(getCell('wc07-cell')?.state, 'aborted');
    } finally {
      press.closeInterlock('guard');
    }
    // The press reads its inputs every watch period while the fault lasts: a reset is accepted
    // once it has read the guard closed (an operator's reset a moment earlier is refused, as above).
    for (let tries = 1; !control.messages.some((m) => (m.payload as Payload).state === 'ready'); tries++) {
      assert.ok(tries <= 50, `reset accepted after the guard closed; refusals: ${errors.messages.length}`);
      const seen = control.messages.length + errors.messages.length;
      helper.getNode('wc07-reset-in').receive({});
      await until(() => control.messages.length + errors.messages.length > seen);
    }
    helper.getNode('wc07-start-press').receive({});
    assert.equal(((await outcome.nth(2, 20_000)).payload as Payload).outcome, 'completed');
    // The interlock trip is logged by the cell as an emergency stop, not as a node error.
    await checkExampleLog(log);
  });
});
