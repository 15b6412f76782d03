import assert from 'node:assert/strict';
import ModbusRTU from 'modbus-serial';
import { ModbusBus } from '../../lib/io/modbus/modbus-bus';
import { startPressCell, type StartedPressCell } from '../../lib/simulators/modbus/press-host';
import { PRESS_PLC_COILS, PRESS_PLC_HOLDING, PRESS_PLC_INPUTS, PRESS_PLC_INPUT_REGISTERS } from '../../lib/simulators/modbus/press-plc';
import { openPtyPair, type PtyPair } from '../support/pty-pair';
import { IO_UNIT, PRESS_UNIT, noSignal, readyActuator, readyPress } from './press-fixtures';

/** The press PLC and an I/O module on one RTU line behind a pseudo-terminal, driven by our bus. */
describe('press and actuator on Modbus RTU over a pseudo-terminal', function () {
  let pty: PtyPair;
  let sims: StartedPressCell;
  let bus: ModbusBus;

  before(async () => {
    pty = await openPtyPair();
    sims = await startPressCell(
      { presses: [{ unitId: PRESS_UNIT, timeScale: 10 }], ioModules: [{ unitId: IO_UNIT, timeScale: 5 }] },
      { rtu: { path: pty.b, baudRate: 38400 } },
    );
    bus = new ModbusBus(pty.a, { serial: { baudRate: 38400 }, timeoutMs: 500, reconnect: { minMs: 20, maxMs: 50 } });
  });

  after(async () => {
    await sims.close();
    await pty.close();
  });

  it('runs a press cycle and an actuator stroke on the same line', async () => {
    const press = await readyPress(bus);
    const gripper = await readyActuator(bus);
    try {
      const [cycle, stroke] = await Promise.all([
        press.execute('cycle', { force: 60, holdMs: 100 }, { signal: noSignal }) as Promise<{ force: number }>,
        gripper.execute('extend', {}, { signal: noSignal }) as Promise<{ position: string }>,
      ]);
      assert.ok(cycle.force >= 60, `peak force ${cycle.force} kN`);
      assert.equal(stroke.position, 'extended');
      assert.equal(sims.presses.get(PRESS_UNIT)!.cycles, 1);
      assert.equal(sims.ioModules.get(IO_UNIT)!.cylinder(0).position, 1);
    } finally {
      await press.close();
      await gripper.close();
    }
  });
});

/** The simulators answer a standard Modbus client (modbus-serial), not only ours. */
describe('press PLC and I/O module simulators with modbus-serial as the client', function () {
  let sims: StartedPressCell;
  let client: ModbusRTU;

  before(async () => {
    sims = await startPressCell({ presses: [{ unitId: PRESS_UNIT, timeScale: 10 }], ioModules: [{ unitId: IO_UNIT }] });
    client = new ModbusRTU();
    await client.connectTCP('127.0.0.1', { port: sims.port! });
    client.setTimeout(300);
  });

  after(async () => {
    client.close(() => undefined);
    await sims.close();
  });

  it('reads and writes the press map and the I/O module; unmapped addresses answer exception 02', async () => {
    client.setID(PRESS_UNIT);
    await client.writeRegisters(PRESS_PLC_HOLDING.targetForce, [500, 0, 100]);
    assert.deepEqual((await client.readHoldingRegisters(0, 6)).data, [500, 0, 100, 0, 0, 0]);
    assert.deepEqual((await client.readDiscreteInputs(PRESS_PLC_INPUTS.cycleDone, 6)).data.slice(0, 6), [false, true, true, true, true, false]);
    await client.writeCoil(PRESS_PLC_COILS.cycleStart, true);
    assert.equal((await client.readCoils(PRESS_PLC_COILS.cycleStart, 1)).data[0], true);
    assert.deepEqual((await client.readInputRegisters(PRESS_PLC_INPUT_REGISTERS.state, 1)).data.length, 1);
    await assert.rejects(client.readHoldingRegisters(6, 1), (err: { modbusCode?: number }) => err.modbusCode === 2);
    await assert.rejects(client.writeRegister(PRESS_PLC_HOLDING.mode, 7), (err: { modbusCode?: number }) => err.modbusCode === 3);
    client.setID(IO_UNIT);
    await client.writeCoils(0, [true]);
    assert.equal((await client.readCoils(0, 1)).data[0], true);
    await assert.rejects(client.readDiscreteInputs(8, 1), (err: { modbusCode?: number }) => err.modbusCode === 2);
  });
});
