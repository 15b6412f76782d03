import assert from 'node:assert/strict';
import { AbortContext, EStop } from '../../lib';
import type { ModbusBus } from '../../lib/io/modbus/modbus-bus';
import { ActuatorDevice, type ActuatorDeviceOptions } from '../../lib/devices/actuator';
import { ModbusIoModule, type CylinderWiring } from '../../lib/simulators/modbus/io-module';
import type { StartedPressCell } from '../../lib/simulators/modbus/press-host';
import { until } from '../lib/helpers';
import { IO_UNIT, noSignal, readyActuator, startPressSims, tcpBus } from './press-fixtures';

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected a rejection');
}

const SINGLE: CylinderWiring = { valve: 'single', extendCoil: 0, extendedInput: 3, retractedInput: 4, travelMs: 200 };
const DOUBLE: CylinderWiring = { valve: 'double', extendCoil: 2, retractCoil: 3, extendedInput: 5, retractedInput: 6, travelMs: 200 };
/** A double-solenoid cylinder whose coils are not next to each other. */
const APART: CylinderWiring = { valve: 'double', extendCoil: 4, retractCoil: 7, extendedInput: 0, retractedInput: 1, travelMs: 200 };

/** The pneumatic actuator driver against the Modbus I/O module simulator over Modbus TCP. */
describe('pneumatic actuator on Modbus TCP', function () {
  let sims: StartedPressCell;
  let io: ModbusIoModule;
  let bus: ModbusBus;
  const opened: ActuatorDevice[] = [];

  async function actuator(options: Partial<ActuatorDeviceOptions>): Promise<ActuatorDevice> {
    const a = await readyActuator(bus, options);
    opened.push(a);
    return a;
  }

  before(async () => {
    sims = await startPressSims();
    bus = tcpBus(sims.port!);
  });

  beforeEach(() => {
    io = new ModbusIoModule({ timeScale: 5, cylinders: [SINGLE, DOUBLE, APART] });
    sims.server.setUnit(IO_UNIT, io);
  });

  afterEach(async () => {
    for (const a of opened.splice(0)) await a.close();
  });

  after(async () => {
    await sims.close();
  });

  const single = { valve: 'single', extendCoil: 0, extendedInput: 3, retractedInput: 4 } as const;
  const double = { valve: 'double', extendCoil: 2, retractCoil: 3, extendedInput: 5, retractedInput: 6 } as const;

  it('a single-solenoid cylinder extends and retracts, each confirmed by its switch; read says where it is', async () => {
    const gripper = await actuator(single);
    const out = (await gripper.execute('extend', {}, { signal: noSignal })) as { position: string };
    assert.equal(out.position, 'extended');
    assert.equal(io.cylinder(0).position, 1);
    assert.deepEqual(await gripper.execute('read', {}, { signal: noSignal }), { position: 'extended', extended: true, retracted: false, valve: { extend: true } });
    assert.equal(((await gripper.execute('retract', {}, { signal: noSignal })) as { position: string }).position, 'retracted');
    assert.equal(io.cylinder(0).position, 0);
    assert.deepEqual(io.writes, [{ address: 0, value: true }, { address: 0, value: false }]);
  });

  it('a double-solenoid cylinder never has both coils on: adjacent coils go in one write, others off first', async () => {
    const clamp = await actuator(double);
    await clamp.execute('extend', {}, { signal: noSignal });
    await clamp.execute('retract', {}, { signal: noSignal });
    assert.deepEqual(io.writes, [{ address: 2, value: true }, { address: 3, value: false }, { address: 2, value: false }, { address: 3, value: true }]);
    const apart = await actuator({ valve: 'double', extendCoil: 4, retractCoil: 7, extendedInput: 0, retractedInput: 1 });
    const on: boolean[][] = [];
    io.on('write', () => on.push([io.coils[4], io.coils[7]]));
    await apart.execute('extend', {}, { signal: noSignal });
    await apart.execute('retract', {}, { signal: noSignal });
    assert.ok(on.every(([e, r]) => !(e && r)), `never both on: ${JSON.stringify(on)}`);
    assert.equal(io.cylinder(2).position, 0);
  });

  it('vent switches both solenoids off and the cylinder stops where it is; refused for a single-solenoid valve with nothing written', async () => {
    const clamp = await actuator(double);
    io.timeScale = 0.5;
    // The extend gives up half way (the cylinder still moving), then vent stops it there.
    await assert.rejects(clamp.execute('extend', { timeoutMs: 60 }, { signal: noSignal }), /neither switch is closed/);
    assert.deepEqual(await clamp.execute('vent', {}, { signal: noSignal }), { position: 'between' });
    const at = io.cylinder(1).position;
    assert.ok(at > 0 && at < 1, `stopped mid-stroke (${at})`);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(io.cylinder(1).position, at);
    assert.deepEqual([io.coils[2], io.coils[3]], [false, false]);
    const gripper = await actuator(single);
    const before = io.writes.length;
    const refused = await rejection(gripper.execute('vent', {}, { signal: noSignal }));
    assert.equal(refused.message, 'gripper: vent refused: a single-solenoid valve has no vent position (its spring returns it); nothing was written');
    assert.equal(io.writes.length, before);
  });

  it('a stuck cylinder fails naming the switch, its input and the device', async () => {
    const gripper = await actuator(single);
    io.stick(0);
    const err = await rejection(gripper.execute('extend', { timeoutMs: 150 }, { signal: noSignal }));
    assert.equal(err.message, 'gripper: extend: the extended switch (input 3) did not close within 150 ms; the retracted switch (input 4) is still closed: the cylinder did not move');
  });

  it('a broken switch fails with neither switch closed', async () => {
    const clamp = await actuator(double);
    io.breakSwitch(1, 'extended');
    const err = await rejection(clamp.execute('extend', { timeoutMs: 200 }, { signal: noSignal }));
    assert.equal(err.message, 'gripper: extend: the extended switch (input 5) did not close within 200 ms; neither switch is closed: the cylinder stopped on its way, or the extended switch is broken');
    assert.equal(io.cylinder(1).position, 1, 'the cylinder itself got there');
  });

  it('safe states: retract (confirmed), vent (both off), hold (nothing written)', async () => {
    const retracting = await actuator({ ...single, safeState: 'retract' });
    await retracting.execute('extend', {}, { signal: noSignal });
    await retracting.safe(noSignal);
    assert.equal(io.cylinder(0).position, 0);
    const venting = await actuator({ ...double, safeState: 'vent' });
    await venting.execute('extend', {}, { signal: noSignal });
    await venting.safe(noSignal);
    assert.deepEqual([io.coils[2], io.coils[3]], [false, false]);
    assert.equal(io.cylinder(1).position, 1, 'vented where it was');
    const holding = await actuator({ ...double, safeState: 'hold' });
    const before = io.writes.length;
    await holding.safe(noSignal);
    assert.equal(io.writes.length, before);
  });

  it('an emergency stop holds: the gripper keeps its valve as it is, then the safe routine retracts it', async () => {
    const gripper = await actuator({ ...single, safeState: 'retract' });
    const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
    cell.addDevice(gripper, 0);
    const run = cell.startRun({ sequence: 'grip' });
    io.timeScale = 0.5;
    const step = run.runStep('extend', (signal) => gripper.execute('extend', {}, { signal, runId: run.id }));
    step.catch(() => undefined);
    await until(() => io.cylinder(0).position > 0.05, 'extending');
    const writes: { address: number; value: boolean }[] = [];
    io.on('write', (w: { address: number; value: boolean }) => writes.push(w));
    io.timeScale = 20;
    const report = await cell.estop('test');
    await assert.rejects(step, EStop);
    assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['gripper', 'stopped', 'safe']]);
    assert.deepEqual(writes, [{ address: 0, value: false }], 'the stop wrote nothing; only the safe routine retracted');
    assert.equal(io.cylinder(0).position, 0);
  });

  it('a cancelled stroke stops waiting for its switch and leaves the valve as it is', async () => {
    const gripper = await actuator(single);
    io.timeScale = 0.5;
    const run = new AbortController();
    const stroke = gripper.execute('extend', {}, { signal: run.signal });
    await until(() => io.cylinder(0).position > 0.05, 'extending');
    run.abort(new Error('cancelled'));
    await assert.rejects(stroke, /cancelled/);
    assert.deepEqual(io.writes, [{ address: 0, value: true }]);
    assert.equal(io.coils[0], true);
  });

  it('refuses a configuration it cannot work with', () => {
    const make = (o: Partial<ActuatorDeviceOptions>) => () => new ActuatorDevice({ name: 'gripper', unitId: IO_UNIT, bus, ...o });
    assert.throws(make({ valve: 'single', safeState: 'vent' }), /gripper: a single-solenoid valve cannot vent/);
    assert.throws(make({ valve: 'double', extendCoil: 2, retractCoil: 2 }), /gripper: the extend and retract coils are both 2/);
    assert.throws(make({ extendedInput: 1, retractedInput: 1 }), /gripper: the extended and retracted switches are both input 1/);
    assert.throws(make({ extendCoil: -1 }), /gripper: the extend coil must be an address 0–65535, got -1 \(number\)/);
  });
});
