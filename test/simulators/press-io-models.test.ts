import assert from 'node:assert/strict';
import { ModbusException } from '../../lib/simulators/modbus/modbus-slave';
import { PRESS_FAULT, PRESS_MODE, PRESS_PLC_COILS as C, PRESS_PLC_HOLDING as H, PRESS_PLC_INPUTS as I, PRESS_PLC_INPUT_REGISTERS as R, PressPlc } from '../../lib/simulators/modbus/press-plc';
import { ModbusIoModule } from '../../lib/simulators/modbus/io-module';
import { until } from '../lib/helpers';
import { startPressCell } from '../../lib/simulators/modbus/press-host';

function exceptionCode(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ModbusException, `a ModbusException, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected an exception reply');
}

/** The press PLC and the I/O module as data models, called directly (the server is tested over the wire elsewhere). */
describe('press PLC model', function () {
  it('runs a force cycle: approach, press to the target force, hold, retract, cycle done', async () => {
    const plc = new PressPlc({ timeScale: 20 });
    plc.writeRegisters(H.targetForce, [1000, 0, 100]); // 100 kN, hold 100 ms
    plc.writeCoil(C.cycleStart, true);
    assert.equal(plc.readDiscreteInputs(I.cycleDone, 1)[0], false);
    assert.equal(plc.readCoils(C.cycleStart, 1)[0], true);
    await until(() => plc.readDiscreteInputs(I.cycleDone, 1)[0], 'cycle done');
    // The PLC's process monitor, not sampling: a loaded machine could sample past a 5 ms hold.
    const peak = plc.readInputRegisters(R.peakForce, 1)[0];
    assert.ok(peak >= 1000, `force reached the target (peak ${peak / 10} kN)`);
    assert.equal(plc.readDiscreteInputs(I.ramAtTop, 1)[0], true);
    assert.equal(plc.readCoils(C.cycleStart, 1)[0], false);
    assert.equal(plc.cycles, 1);
    assert.equal(plc.unsafeEvents, 0);
  });

  it('runs a position cycle to the target position without passing it', async () => {
    const plc = new PressPlc({ timeScale: 20 });
    plc.writeRegisters(H.targetForce, [0, 850, 50]);
    plc.writeRegister(H.mode, PRESS_MODE.position);
    plc.writeCoil(C.cycleStart, true);
    await until(() => plc.readDiscreteInputs(I.cycleDone, 1)[0], 'cycle done');
    // The PLC's process monitor, not sampling: a loaded machine could sample past a 2.5 ms hold.
    const deepest = plc.readInputRegisters(R.bottomPosition, 1)[0];
    assert.equal(deepest, 850);
  });

  it('welds only with weld enable on and the ram closed, for the weld time', async () => {
    const plc = new PressPlc({ timeScale: 5 });
    plc.writeRegisters(H.targetForce, [500, 0, 20, 1250, 200]); // 50 kN, hold 20 ms, 12.5 kA for 200 ms
    const welds: { ka: number; force: number }[] = [];
    plc.on('weld', (ka: number) => welds.push({ ka, force: plc.forceKnNow }));
    plc.writeCoil(C.cycleStart, true);
    await until(() => plc.readDiscreteInputs(I.cycleDone, 1)[0], 'cycle done without weld');
    assert.equal(welds.length, 0, 'no current without weld enable');
    plc.writeCoil(C.weldEnable, true);
    plc.writeCoil(C.cycleStart, true);
    // The model runs when it is looked at: reading its state advances it.
    await until(() => plc.state !== 'idle' && welds.length > 0, 'the weld');
    assert.equal(welds[0].ka, 12.5);
    assert.ok(welds[0].force >= 50, `the electrodes closed on the part (${welds[0].force} kN)`);
    await until(() => plc.readDiscreteInputs(I.cycleDone, 1)[0], 'cycle done with weld');
    assert.equal(plc.weldCurrentKa, 0);
    assert.equal(plc.readInputRegisters(R.weldCurrent, 1)[0], 0);
  });

  it('stops the ram and flags the interlock when one opens mid-cycle; the fault resets only once it is closed', async () => {
    const plc = new PressPlc({ timeScale: 5 });
    plc.writeRegisters(H.targetForce, [1000, 0, 100]);
    plc.writeCoil(C.cycleStart, true);
    await until(() => plc.ramPositionMm > 20, 'ram going down');
    plc.openInterlock('lightCurtain');
    const at = plc.ramPositionMm;
    assert.equal(plc.state, 'fault');
    assert.equal(plc.readInputRegisters(R.faultCode, 1)[0], PRESS_FAULT.lightCurtainBroken);
    assert.deepEqual(plc.readDiscreteInputs(I.guardClosed, 4), [true, false, true, true]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(plc.ramPositionMm, at, 'the ram stays where it stopped');
    plc.writeCoil(C.faultReset, true);
    assert.equal(plc.fault, PRESS_FAULT.lightCurtainBroken, 'no reset while the light curtain is broken');
    plc.closeInterlock('lightCurtain');
    plc.writeCoil(C.faultReset, true);
    assert.equal(plc.fault, PRESS_FAULT.none);
    assert.equal(plc.unsafeEvents, 0);
  });

  it('ignores a cycle start with an interlock open and counts it as unsafe', () => {
    const plc = new PressPlc();
    plc.openInterlock('guard');
    plc.writeCoil(C.cycleStart, true);
    assert.equal(plc.state, 'idle');
    assert.deepEqual(plc.unsafeLog, ['cycle start written while guard open']);
  });

  it('the stop coil halts the ram and releases the pressure; retract brings it to the top', async () => {
    const plc = new PressPlc({ timeScale: 10 });
    plc.writeRegisters(H.targetForce, [3000, 0, 5000]);
    plc.writeCoil(C.cycleStart, true);
    await until(() => plc.state === 'holding', 'holding');
    plc.writeCoil(C.stop, true);
    assert.equal(plc.state, 'stopped');
    assert.equal(plc.forceKnNow, 0);
    assert.equal(plc.readDiscreteInputs(I.ramAtTop, 1)[0], false);
    plc.writeCoil(C.retract, true);
    assert.equal(plc.readCoils(C.retract, 1)[0], true);
    await until(() => plc.ramAtTop, 'ram at top');
    assert.equal(plc.readCoils(C.retract, 1)[0], false);
    assert.equal(plc.readDiscreteInputs(I.cycleDone, 1)[0], false, 'a stopped cycle is not done');
  });

  it('answers exception 02 beyond its map and 03 for a value it refuses', () => {
    const plc = new PressPlc();
    assert.equal(exceptionCode(() => plc.readHoldingRegisters(5, 2)), 2);
    assert.equal(exceptionCode(() => plc.readDiscreteInputs(6, 1)), 2);
    assert.equal(exceptionCode(() => plc.writeCoil(9, true)), 2);
    assert.equal(exceptionCode(() => plc.writeRegister(H.targetForce, 4001)), 3);
    assert.equal(exceptionCode(() => plc.writeRegisters(H.targetForce, [100, 9999])), 3);
    assert.equal(plc.holding[H.targetForce], 0, 'FC 16 is all or nothing');
  });

  it('faults on overload and at the stroke end', async () => {
    const plc = new PressPlc({ timeScale: 20, partAtMm: 200 });
    plc.writeRegister(H.targetForce, 100);
    plc.writeCoil(C.cycleStart, true);
    await until(() => plc.fault !== 0, 'fault');
    assert.equal(plc.fault, PRESS_FAULT.strokeEnd);
  });
});

describe('Modbus I/O module model', function () {
  it('a single-solenoid cylinder extends with its coil on, retracts with it off, in its travel time', async () => {
    const io = new ModbusIoModule({ timeScale: 10, cylinders: [{ valve: 'single', extendCoil: 0, extendedInput: 0, retractedInput: 1, travelMs: 200 }] });
    assert.deepEqual(io.readDiscreteInputs(0, 2), [false, true]);
    io.writeCoil(0, true);
    await until(() => io.readDiscreteInputs(0, 1)[0], 'extended');
    assert.deepEqual(io.readDiscreteInputs(0, 2), [true, false]);
    io.writeCoil(0, false);
    await until(() => io.readDiscreteInputs(1, 1)[0], 'retracted');
  });

  it('a double-solenoid cylinder stops where it is when vented (both coils off)', async () => {
    const io = new ModbusIoModule({ timeScale: 2, cylinders: [{ valve: 'double', extendCoil: 2, retractCoil: 3, extendedInput: 4, retractedInput: 5, travelMs: 400 }] });
    io.writeCoils(2, [true, false]);
    await until(() => io.cylinder(0).position > 0.2, 'moving');
    io.writeCoils(2, [false, false]);
    const at = io.cylinder(0).position;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(io.cylinder(0).position, at);
    assert.deepEqual(io.readDiscreteInputs(4, 2), [false, false]);
  });

  it('a double-solenoid cylinder with both coils on stops too (the spool stays centred)', async () => {
    const io = new ModbusIoModule({ timeScale: 2, cylinders: [{ valve: 'double', extendCoil: 0, retractCoil: 1, extendedInput: 0, retractedInput: 1, travelMs: 400 }] });
    io.writeCoil(0, true);
    await until(() => io.cylinder(0).position > 0.2, 'moving');
    io.writeCoil(1, true);
    const at = io.cylinder(0).position;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(io.cylinder(0).position, at);
  });

  it('a stuck cylinder never reaches its switch; a broken switch reads open at the end of the stroke', async () => {
    const io = new ModbusIoModule({ timeScale: 20, cylinders: [
      { valve: 'single', extendCoil: 0, extendedInput: 0, retractedInput: 1 },
      { valve: 'single', extendCoil: 1, extendedInput: 2, retractedInput: 3 },
    ] });
    io.stick(0);
    io.breakSwitch(1, 'extended');
    io.writeCoils(0, [true, true]);
    await until(() => io.cylinder(1).position >= 1, 'cylinder 1 extended');
    assert.deepEqual(io.readDiscreteInputs(0, 4), [false, true, false, false]);
    assert.equal(exceptionCode(() => io.readDiscreteInputs(7, 2)), 2);
    assert.equal(exceptionCode(() => io.writeCoil(8, true)), 2);
  });
});

describe('startPressCell', function () {
  it('refuses a unit id given twice, before anything listens', async () => {
    await assert.rejects(startPressCell({ presses: [{ unitId: 2 }], ioModules: [{ unitId: 2 }] }), { message: 'Modbus simulator: unit 2 is given twice' });
  });
});
