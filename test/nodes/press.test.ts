import assert from 'node:assert/strict';
import { helper, controlNodes, Received, placed, delay } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { startPressCell, type StartedPressCell } from '../../lib/simulators/modbus/press-host';
import { until } from '../lib/helpers';
import type { DeviceConfigNode } from '../../nodes/shared/device-nodes';

const pressNodes = require('../../nodes/press') as (red: unknown) => void;
const actuatorNodes = require('../../nodes/actuator') as (red: unknown) => void;
const modbusNodes = require('../../nodes/modbus') as (red: unknown) => void;
const nodes = [...controlNodes, modbusNodes, pressNodes, actuatorNodes];

/**
 * A cell with a press (unit 3) and a gripper (unit 7) on one simulated Modbus TCP bus; a sequence
 * that closes the gripper, runs a press cycle and ends.
 */
function flow(port: number, press: object = {}, gripper: object = {}): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell P', safeTimeout: '3', stopTimeout: '1' },
    { id: 'bus', type: 'workcell-modbus', name: 'Line', address: `tcp://127.0.0.1:${port}`, timeout: 300, backoffMin: '0.05', backoffMax: '0.2' },
    { id: 'pressDev', type: 'workcell-press-device', name: 'Press', bus: 'bus', unitId: 3, maxForce: 200, watchInterval: 10, cell: 'cell', ...press },
    { id: 'gripDev', type: 'workcell-actuator-device', name: 'gripper', bus: 'bus', unitId: 7, valve: 'single', extendCoil: 0, extendedInput: 0, retractedInput: 1, cell: 'cell', ...gripper },
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', timeout: '', wires: [['grip'], ['outcome']] },
    { id: 'grip', type: 'workcell-actuator', z: 't1', name: 'close gripper', device: 'gripDev', operation: 'extend', params: {}, wires: [['cycle', 'after']] },
    { id: 'cycle', type: 'workcell-press', z: 't1', name: 'press', device: 'pressDev', operation: 'cycle', params: { target: 'force', force: 80, holdMs: 100 }, wires: [['end', 'after']] },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'after', type: 'helper', z: 't1' },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
    { id: 'stop', type: 'workcell-estop', z: 't1', name: 'E-stop', cell: 'cell', action: 'estop', wires: [['stopped']] },
    { id: 'stopped', type: 'helper', z: 't1' },
  ]);
}

async function ready(count: number, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const devices = getCell('cell')?.devices ?? [];
    if (devices.length === count && devices.every((d) => d.status === 'ready')) return;
    if (Date.now() > deadline) throw new Error(`devices not ready: ${JSON.stringify(devices.map((d) => [d.device, d.status, d.detail]))}`);
    await delay(10);
  }
}

describe('press and actuator nodes in Node-RED against the simulated PLC and I/O module', () => {
  let sims: StartedPressCell;

  before(async () => {
    sims = await startPressCell({ presses: [{ unitId: 3, timeScale: 10 }], ioModules: [{ unitId: 7, timeScale: 5 }] });
  });
  after(() => sims.close());
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('deploys; a message runs the gripper and a press cycle as steps of a run; msg.operation runs another', async () => {
    await helper.load(nodes, flow(sims.port!));
    await ready(2);
    const plc = sims.presses.get(3)!;
    const io = sims.ioModules.get(7)!;
    const after = new Received(helper.getNode('after'));
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 'go' });
    assert.equal(((await after.nth(1)).payload as { position: string }).position, 'extended');
    const cycle = (await after.nth(2)).payload as { target: string; force: number };
    assert.equal(cycle.target, 'force');
    assert.ok(cycle.force >= 80, `peak force ${cycle.force} kN`);
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
    assert.equal(plc.cycles, 1);
    assert.equal(io.cylinder(0).position, 1);
    helper.getNode('cycle').receive({ operation: 'read' });
    assert.deepEqual(((await after.nth(3)).payload as { interlocks: object }).interlocks, { guard: true, lightCurtain: true, twoHand: true });
    // The gripper node's output goes on to the press node too, which then runs the same operation (a retract).
    helper.getNode('grip').receive({ operation: 'retract' });
    assert.equal(((await after.nth(4)).payload as { position: string }).position, 'retracted');
    assert.deepEqual((await after.nth(5)).payload, { position: 0 });
  });

  it('a cycle with the guard open, and a force above the limit, reach Catch nodes as sentences; nothing was written', async () => {
    await helper.load(nodes, flow(sims.port!));
    await ready(2);
    const plc = sims.presses.get(3)!;
    const writes = plc.writes.length;
    const caught = new Received(helper.getNode('caught'));
    plc.openInterlock('guard');
    try {
      helper.getNode('cycle').receive({ payload: 'x' });
      const refused = (await caught.nth(1)).error as { message: string; source: { id: string } };
      assert.match(refused.message, /Press: cycle refused: the guard is open \(input 2\); nothing was written$/);
      assert.equal(refused.source.id, 'cycle');
    } finally {
      plc.closeInterlock('guard');
    }
    helper.getNode('cycle').receive({ params: { force: 250 } });
    const limit = (await caught.nth(2)).error as { message: string };
    assert.match(limit.message, /Press: cycle refused: force 250 \(number\) is outside the limit of 200 kN; nothing was sent$/);
    assert.equal(plc.writes.length, writes);
    assert.equal(plc.unsafeEvents, 0);
  });

  it('a bad configuration is refused at deploy: the action node says why and refuses its messages', async () => {
    await helper.load(nodes, flow(sims.port!, { minPosition: 100, maxPosition: 50 }, { safeState: 'vent' }));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('cycle').receive({ payload: 'x' });
    helper.getNode('grip').receive({ payload: 'x' });
    const errors = [(await caught.nth(1)).error, (await caught.nth(2)).error] as { message: string; source: { id: string } }[];
    const bySource = Object.fromEntries(errors.map((e) => [e.source.id, e.message]));
    assert.match(bySource.cycle, /no press device is configured for this node: .*highest position \(50 mm\) must not be below the lowest \(100 mm\)/);
    assert.match(bySource.grip, /no actuator device is configured for this node: .*safe state "vent" needs a double-solenoid valve/);
    assert.equal(getCell('cell')?.devices.length ?? 0, 0);
  });

  it('a register map with a misspelt entry is refused at deploy, naming it and the choices', async () => {
    await helper.load(nodes, flow(sims.port!, { map: '{"coils": {"stopp": 10}}' }));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('cycle').receive({ payload: 'x' });
    const err = (await caught.nth(1)).error as { message: string };
    assert.match(err.message, /register map: the map's coils has no entry "stopp" \(string\) \(expected cycleStart, stop, retract, weldEnable, faultReset\)/);
  });

  it('an emergency stop node during a weld: the PLC gets its stop coil, the weld goes off and the ram back to the top; the gripper holds', async () => {
    await helper.load(nodes, flow(sims.port!));
    await ready(2);
    const plc = sims.presses.get(3)!;
    const io = sims.ioModules.get(7)!;
    plc.timeScale = 1;
    const stopped = new Received(helper.getNode('stopped'));
    const caught = new Received(helper.getNode('caught'));
    // The gripper is closed through its driver, not the flow: the grip node's output would also
    // start a press cycle of its own, which, taking the press before the weld, ends at the
    // sequence end node with an error of its own before the E-stop.
    const gripper = (helper.getNode('gripDev') as unknown as DeviceConfigNode).device!;
    await gripper.execute('extend', {}, { signal: new AbortController().signal });
    assert.equal(io.cylinder(0).position, 1, 'gripper closed');
    helper.getNode('cycle').receive({ operation: 'weld', params: { force: 40, current: 10, timeMs: 1500, holdMs: 100 } });
    await until(() => plc.state === 'welding', 'welding');
    const gripWrites = io.writes.length;
    helper.getNode('stop').receive({ payload: 'trip' });
    const report = ((await stopped.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
    assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]).sort(), [['Press', 'stopped', 'safe'], ['gripper', 'stopped', 'safe']]);
    assert.ok(plc.writes.some((w) => w.function === 'coil' && w.address === 1 && w.value === true), 'the stop coil');
    assert.equal(plc.ramAtTop, true);
    assert.equal(plc.weldCurrentKa, 0);
    assert.equal(plc.weldEnabled, false);
    assert.equal(plc.unsafeEvents, 0);
    // The gripper's safe state is retract: the stop wrote nothing, the safe routine opened it.
    assert.deepEqual(io.writes.slice(gripWrites), [{ address: 0, value: false }]);
    const err = (await caught.nth(1)).error as { message: string; source: { id: string } };
    assert.deepEqual([err.message, err.source.id], ['EStop: emergency stop (node "E-stop")', 'cycle']);
  });
});
