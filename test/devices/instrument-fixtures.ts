import { ScpiInstrumentDevice, type ScpiInstrumentOptions } from '../../lib/devices/instrument';
import { Dmm34461A, RigolDP821, type ScpiInstrument } from '../../lib/simulators/scpi';

import { owedStopAcknowledged, waitForStatus } from '../support/device-health';
export { owedStopAcknowledged, waitForStatus };

/** The messages the simulator received since `from` (an index into its command log). */
export function received(sim: ScpiInstrument, from = 0): string[] {
  return sim.commandLog.slice(from).map((e) => e.message);
}

/** A DMM (fast: 1 PLC ≈ 0.2 ms) and a PSU, each on its own TCP port, with noise-free readings. */
export async function startSimulators(): Promise<{ dmm: Dmm34461A; psu: RigolDP821; dmmAddress: string; psuAddress: string; close(): Promise<void> }> {
  const dmm = new Dmm34461A({ timeScale: 0.01 });
  dmm.setNoise('VOLT:DC', 0);
  const psu = new RigolDP821();
  const [d, p] = await Promise.all([dmm.listen({ port: 0 }), psu.listen({ port: 0 })]);
  return {
    dmm,
    psu,
    dmmAddress: `tcp://127.0.0.1:${d.port}`,
    psuAddress: `tcp://127.0.0.1:${p.port}`,
    close: async () => {
      await Promise.all([dmm.close(), psu.close()]);
    },
  };
}

/** A driver for `address`, opened and identified (ready). Fast reconnection for the tests. */
export async function readyDevice(options: ScpiInstrumentOptions): Promise<ScpiInstrumentDevice> {
  const device = new ScpiInstrumentDevice({ reconnect: { minMs: 20, maxMs: 100 }, ...options });
  const ready = waitForStatus(device, 'ready');
  await device.open();
  await ready;
  return device;
}
