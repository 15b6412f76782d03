import assert from 'node:assert/strict';
import { AbortContext, EStop } from '../../lib';
import { until } from '../lib/helpers';
import { ModbusBus } from '../../lib/io/modbus';
import { ModbusServer } from '../../lib/simulators/modbus/server';
import { startFurnaces } from '../../lib/simulators/modbus/furnace';
import { readyFurnace, startFurnaceBus, waitForStatus, writeLog } from './furnace-fixtures';

/**
 * The furnace in a real cell: an emergency stop during a ramp and a critical sensor break,
 * checked in the simulator's own state and in what the driver wrote to it.
 */
describe('furnace in a cell: emergency stop and critical faults', () => {
  let env: Awaited<ReturnType<typeof startFurnaceBus>>;

  before(async () => {
    env = await startFurnaceBus([
      { unitId: 1, preset: 'eurotherm-3216', timeScale: 300 },
      { unitId: 2, preset: 'omega-cn7500', timeScale: 300 },
    ]);
  });
  after(() => env.close());

  it('an emergency stop during a ramp ends it, holds the working setpoint, then writes the safe setpoint and stops the controller', async () => {
    const sim = env.sim.furnaces.get(1)!;
    const d = await readyFurnace({ name: 'Oven', bus: env.bus, unitId: 1, preset: 'eurotherm-3216', safeSetpoint: 25 });
    const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
    cell.addDevice(d);
    const writes = writeLog(env.sim, 1);
    try {
      const run = cell.startRun({ sequence: 'anneal' });
      const ramping = run.runStep('ramp', (signal) => d.execute('ramp', { to: 400, rate: 3000 }, { signal, runId: run.id }));
      ramping.catch(() => undefined);
      // Some steps of the ramp (comms setpoint 26) have reached the controller.
      await until(() => writes.filter(([a]) => a === 26).length >= 3, 'ramp steps written');
      const report = await cell.estop('test');
      await assert.rejects(ramping, EStop);
      assert.deepEqual(report.devices.map((r) => [r.device, r.stop, r.safe]), [['Oven', 'stopped', 'safe']]);

      // In order: ramp steps; the hold (the working setpoint written back as the setpoint); the
      // safe setpoint; standby. Nothing of the ramp after the hold.
      const afterEnable = writes.filter(([a]) => a !== 276);
      const hold = afterEnable.length - 3;
      const [holdWrite, safeWrite, standby] = afterEnable.slice(hold);
      assert.equal(holdWrite[0], 26);
      const held = (holdWrite[1][0] as number) / 10;
      const lastStep = (afterEnable[hold - 1][1][0] as number) / 10;
      assert.equal(held, lastStep, 'the hold writes the setpoint the ramp had reached');
      assert.ok(held < 400, `held at ${held} °C, short of the target`);
      assert.deepEqual(safeWrite, [26, [250]]);
      assert.deepEqual(standby, [199, [1]]);
      assert.equal(sim.model.target, 25);
      assert.equal(sim.model.running, false);
      assert.equal(sim.eepromWrites, 0);
    } finally {
      env.sim.furnaces.get(1)!.slave.onWrite = undefined;
      cell.removeDevice(d);
      await d.close();
    }
  });

  it('a stop while the controller ramps by itself (Eurotherm SP.RAT) holds its working setpoint, not the target', async () => {
    const sim = env.sim.furnaces.get(1)!;
    const d = await readyFurnace({ name: 'Oven', bus: env.bus, unitId: 1, preset: 'eurotherm-3216' });
    try {
      await d.execute('setpoint', { value: 50 }, { signal: new AbortController().signal });
      sim.model.rampRate = 600;
      await d.execute('setpoint', { value: 700 }, { signal: new AbortController().signal });
      await d.stop(new EStop('test'));
      assert.ok(sim.model.target > 50 && sim.model.target < 700, `held at ${sim.model.target} °C`);
      const held = sim.model.target;
      // The controller's own ramp now ends at the held setpoint: it no longer heads for 700 °C.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(sim.model.target, held);
      assert.ok(Math.abs(sim.model.working - held) < 1e-6, `working setpoint ${sim.model.working} °C, held ${held} °C`);
    } finally {
      sim.model.rampRate = 0;
      await d.close();
    }
  });

  it('tripped while its bus was down, the furnace owes its stop: when the bus returns the hold is written first, then its safe state', async () => {
    const sim = await startFurnaces([{ unitId: 7, preset: 'generic', timeScale: 300 }]);
    const furnace = sim.furnaces.get(7)!;
    const bus = new ModbusBus(`tcp://127.0.0.1:${sim.port}`, { timeoutMs: 300, reconnect: { minMs: 20, maxMs: 100 } });
    const d = await readyFurnace({ name: 'Dryer', bus, unitId: 7, safeSetpoint: 22 });
    const cell = new AbortContext({ name: 'cell 3', safeTimeoutMs: 2000, stopTimeoutMs: 1000 });
    cell.addDevice(d);
    let again: ModbusServer | undefined;
    try {
      await d.execute('setpoint', { value: 150 }, { signal: new AbortController().signal });
      const lost = waitForStatus(d, 'disconnected');
      await sim.close();
      await lost;
      const report = await cell.estop('panel');
      assert.deepEqual(report.devices.map((r) => r.stop), ['failed']);
      assert.ok(d.owesStop);

      // The controller powered on all along: the same unit comes back on the same port.
      const log: [number, (number | boolean)[]][] = [];
      furnace.slave.onWrite = (address, values) => log.push([address, [...values]]);
      again = new ModbusServer([[7, furnace.slave]]);
      await again.listenTcp({ port: sim.port });
      await until(() => !d.owesStop, 'the debt settled', 10_000);
      // The hold (the setpoint it had, written back), then the safe setpoint, then run = 0.
      assert.deepEqual(log, [[1, [1500]], [1, [220]], [5, [0]]]);
      assert.equal(furnace.model.running, false);
      assert.deepEqual(cell.unsafeDevices, []);
    } finally {
      furnace.slave.onWrite = undefined;
      cell.removeDevice(d);
      await d.close();
      await again?.close();
    }
  });

  it('a sensor break on a critical furnace trips the cell', async () => {
    const sim = env.sim.furnaces.get(2)!;
    const d = await readyFurnace({ name: 'Kiln', bus: env.bus, unitId: 2, preset: 'omega-cn7500', critical: true, safeSetpoint: 20 });
    const cell = new AbortContext({ name: 'cell 2', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
    cell.addDevice(d);
    try {
      const run = cell.startRun({ sequence: 'fire' });
      const waiting = run.runStep('hold', (signal) => d.execute('wait', { band: 0.01, dwell: 60, timeout: 60 }, { signal, runId: run.id }));
      waiting.catch(() => undefined);
      sim.breakSensor(true);
      await waitForStatus(d, 'fault');
      await until(() => cell.state === 'aborted', 'the cell tripped');
      await assert.rejects(waiting);
      assert.equal(run.result?.outcome, 'aborted');
      // Its safe state: the safe setpoint and the run/stop bit cleared.
      assert.equal(sim.model.target, 20);
      assert.equal(sim.model.running, false);
    } finally {
      sim.breakSensor(false);
      cell.removeDevice(d);
      await d.close();
    }
  });
});
