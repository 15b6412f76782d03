import type { Device } from '../device/device';
import { CancelScope, abortable } from '../scope/cancel-scope';
import { Timeout, describeError } from '../scope/reasons';
import { DeviceStopReport, elapsed } from './stop-report';

/** A device and its safe-order group, as the safe phase sees it. */
export interface SafeMember {
  device: Device;
  safeGroup: number;
}

/**
 * Run the safe routines of `members`, group by group in ascending `safeGroup`, concurrently
 * within a group, under a child of `phase` (so the emergency stop that caused them cannot
 * cancel them, but a halt that cancels `phase` does) bounded by `timeoutMs`, and record each
 * outcome in its row of `report` (`safe`, `failed`, `timed-out`, `cancelled`, with `safeError`
 * and `safeMs`). A group whose turn comes after `phase` was cancelled does not start: its rows
 * stay `skipped`. `due[i]` false skips member i.
 */
export async function runSafeRoutines(members: SafeMember[], report: DeviceStopReport[], phase: CancelScope, timeoutMs: number, due?: boolean[]): Promise<void> {
  const groups = [...new Set(members.map((m) => m.safeGroup))].sort((a, b) => a - b);
  for (const group of groups) {
    if (phase.cancelled) return;
    // One scope, deadline and signal per group, not per device: the routines of a group start
    // together and share the bound (a scope per device cost ~8 µs each, most of a 100-device
    // cell's work after its stop frames).
    const scope = phase.child({ name: `safe routines of group ${group}`, timeoutMs, onDeadline: 'fail' });
    const signal = scope.signal;
    await Promise.all(
      members.map(async (m, i) => {
        if (m.safeGroup !== group || (due && !due[i])) return;
        const row = report[i];
        const t = performance.now();
        try {
          await abortable(signal, m.device.safe(signal));
          row.safe = 'safe';
        } catch (err) {
          row.safe = err instanceof Timeout ? 'timed-out' : phase.cancelled ? 'cancelled' : 'failed';
          row.safeError = err instanceof Timeout ? `${m.device.name}: safe routine: no confirmation within ${timeoutMs} ms` : describeError(err);
        }
        row.safeMs = elapsed(t);
      }),
    );
    scope.close();
  }
}
