import { ModbusBus } from '../../lib/io/modbus';
import { FurnaceDevice, type FurnaceOptions } from '../../lib/devices/furnace';
import { startFurnaces, type FurnaceUnitSpec, type StartedFurnaces } from '../../lib/simulators/modbus/furnace';
import { waitForStatus } from '../support/device-health';

export { waitForStatus };

/** Simulated furnaces on TCP port 0 and a bus to them (reply timeout 300 ms, quick reconnects). */
export async function startFurnaceBus(units: readonly FurnaceUnitSpec[]): Promise<{ sim: StartedFurnaces; bus: ModbusBus; close(): Promise<void> }> {
  const sim = await startFurnaces(units);
  const bus = new ModbusBus(`tcp://127.0.0.1:${sim.port}`, { timeoutMs: 300, reconnect: { minMs: 20, maxMs: 100 } });
  return {
    sim,
    bus,
    async close() {
      await sim.close();
    },
  };
}

/** A furnace device on `bus`, opened and ready; fast telemetry, ramps and polls for tests. */
export async function readyFurnace(options: Omit<FurnaceOptions, 'bus'> & { bus: FurnaceOptions['bus'] }): Promise<FurnaceDevice> {
  const device = new FurnaceDevice({ telemetryIntervalMs: 50, rampStepMs: 40, pollMs: 20, maxRampRate: 100_000, ...options });
  const ready = waitForStatus(device, 'ready');
  await device.open();
  await ready;
  return device;
}

/** Every write a simulated unit served, in order: `[address, values]`. */
export function writeLog(sim: StartedFurnaces, unitId: number): [number, (number | boolean)[]][] {
  const log: [number, (number | boolean)[]][] = [];
  sim.furnaces.get(unitId)!.slave.onWrite = (address, values) => log.push([address, [...values]]);
  return log;
}
