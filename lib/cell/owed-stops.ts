import { CancelScope } from '../scope/cancel-scope';
import { Timeout, describeError } from '../scope/reasons';
import { WorkcellError, showValue } from '../errors/workcell-error';
import type { Device, DeviceHealth } from '../device/device';
import { acknowledgement } from './stop-report';
import type { CellState } from './cell-options';
import type { StopDebts } from './stop-debts';

/** A cell never lets a device's stop take longer than this share of its stop timeout by design. */
const STOP_BOUND_SHARE = 0.5;

/** A device whose last status was one with a live link (ready, busy, fault): its stop frames reach it. */
export function isLinked(status: DeviceHealth['status']): boolean {
  return status === 'ready' || status === 'busy' || status === 'fault';
}

/**
 * Refuse, naming the device, one whose stop by design takes more than half the cell's stop
 * timeout: every stop of it would time out.
 */
export function checkStopBound(device: Device, cell: string, stopTimeoutMs: number): void {
  const bound = device.stopBoundMs;
  if (bound <= stopTimeoutMs * STOP_BOUND_SHARE) return;
  throw new WorkcellError(
    'bad-config',
    `${device.name}: its stop takes up to ${bound} ms by design (${device.stopBoundDetail}), which is not well below the stop timeout of cell "${cell}" (${stopTimeoutMs} ms): every stop would time out; keep it at most ${Math.floor(stopTimeoutMs * STOP_BOUND_SHARE)} ms or raise the cell's stop timeout to at least ${Math.ceil(bound / STOP_BOUND_SHARE)} ms`,
    { subject: device.name, operation: 'deploy', value: bound },
  );
}

/** What paying one device's owed stop needs of its cell. */
export interface OwedStopPayment {
  device: Device;
  debts: StopDebts;
  stopTimeoutMs: number;
  safeTimeoutMs: number;
  /** Resolves when no emergency stop of the cell is under way. */
  settled(): Promise<void>;
  /** False once the device has left the cell (or another of its name took its place). */
  stillMember(): boolean;
  /** Record that the device still owes, and why. */
  incur(why: string): void;
}

/**
 * A device that owed its stop has had its stop frame written again (`ack` is its
 * acknowledgement): once acknowledged and once no emergency stop is under way, its safe
 * routine runs (shielded, bounded) if the debt needs one; success settles the debt.
 */
export async function payOwedStop(p: OwedStopPayment, ack: Promise<void>): Promise<void> {
  const { device, debts } = p;
  const stop = await acknowledgement(ack, p.stopTimeoutMs, device.name, performance.now());
  if (stop.stop !== 'stopped') {
    if (debts.has(device)) p.incur(`its owed stop failed again: ${stop.error}`);
    return;
  }
  await p.settled();
  const debt = debts.get(device);
  if (!debt || !p.stillMember()) return;
  if (debt.needsSafe) {
    const scope = new CancelScope({ name: `${device.name}: safe (owed)`, timeoutMs: p.safeTimeoutMs, onDeadline: 'fail' });
    try {
      await scope.run((s) => device.safe(s.signal));
    } catch (err) {
      if (debts.has(device)) p.incur(`its owed stop went out, but its safe routine then failed: ${err instanceof Timeout ? `no confirmation within ${p.safeTimeoutMs} ms` : describeError(err)}`);
      return;
    }
  }
  if (debts.has(device)) debts.settle(device, `its owed stop was delivered${debt.needsSafe ? ' and its safe routine succeeded' : ''}`);
}

/**
 * The device an operator may clear by hand (see `AbortContext.clearDevice`), or a refusal naming
 * why: `name` must be one of the cell's devices (a string), the cell aborted, the device owing
 * and connected.
 */
export function deviceToClear(cell: string, state: CellState, name: unknown, devices: ReadonlyMap<string, { device: Device }>, debts: StopDebts): { device: Device; owed: string } {
  if (typeof name !== 'string' || name === '') {
    throw new WorkcellError('clear-refused', `cannot clear a device of cell "${cell}": msg.device must name one of its devices (a string), got ${showValue(name)}`, {
      subject: cell,
      operation: 'clear',
      value: name,
    });
  }
  const refuse = (why: string) => new WorkcellError('clear-refused', `cannot clear device ${JSON.stringify(name)} of cell "${cell}": ${why}`, { subject: cell, operation: 'clear', value: name });
  const m = devices.get(name);
  if (!m) throw refuse(`the cell has no such device (it has ${[...devices.keys()].map((n) => JSON.stringify(n)).join(', ') || 'none'})`);
  if (state !== 'aborted') throw refuse(`the cell is ${state}; a device is cleared only once the cell's stop has ended (aborted)`);
  const debt = debts.get(m.device);
  if (!debt) throw refuse('it owes nothing: it is known to be stopped and safe');
  if (!isLinked(m.device.status)) throw refuse(`it is ${m.device.status}; its stop goes out when its link returns`);
  return { device: m.device, owed: debt.why };
}
