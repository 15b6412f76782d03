import { describeError } from '../scope/reasons';

/** How one device fared in an emergency stop, halt or cancel. */
export interface DeviceStopReport {
  device: string;
  /** `stopped`: the device acknowledged its stop; `failed`: it could not be stopped (link down, an error); `timed-out`: no acknowledgement within the cell's stop timeout. */
  stop: 'stopped' | 'failed' | 'timed-out';
  /** `skipped`: no safe routine was due (a halt, a device already known safe); `cancelled`: a halt cut it short. */
  safe: 'safe' | 'failed' | 'timed-out' | 'cancelled' | 'skipped';
  safeGroup: number;
  /** Why the stop failed or timed out ("no acknowledgement within 2000 ms"), or null. */
  stopError: string | null;
  /** Why the safe routine failed, timed out or was cancelled, or null. */
  safeError: string | null;
  /** From the trip to the stop's acknowledgement, or to its failure or timeout, as measured. */
  stopMs: number;
  /** How long the safe routine took, or null when it did not run. */
  safeMs: number | null;
}

/** The record of an emergency stop, halt or cancel. */
export interface StopReport {
  /** `halt` also when a halt arrived during an emergency stop and cancelled its safe routines. */
  kind: 'estop' | 'halt' | 'cancel';
  cell: string;
  /** The source that started the stop. */
  source: string;
  /** Every source that tripped the cell while this stop was under way, the first one first. */
  sources: string[];
  at: number;
  durationMs: number;
  runs: { run: string; sequence: string; outcome: string }[];
  devices: DeviceStopReport[];
  /** Devices not known to be stopped and safe when the stop ended, and why: reset is refused until they are. */
  unsafe: { device: string; why: string }[];
}

/** What became of one stop frame's acknowledgement. */
export interface StopOutcome {
  stop: DeviceStopReport['stop'];
  ms: number;
  error: string | null;
}

/**
 * Wait for a stop's acknowledgement, bounded by `timeoutMs`, and say how it went; never rejects.
 * `ms` is measured from `t0` (the trip) to the acknowledgement, the failure or the timeout.
 */
export function acknowledgement(ack: Promise<void>, timeoutMs: number, device: string, t0: number): Promise<StopOutcome> {
  return new Promise<StopOutcome>((resolve) => {
    const timer = setTimeout(() => resolve({ stop: 'timed-out', ms: elapsed(t0), error: `${device}: stop: no acknowledgement within ${timeoutMs} ms` }), timeoutMs);
    ack.then(
      () => {
        clearTimeout(timer);
        resolve({ stop: 'stopped', ms: elapsed(t0), error: null });
      },
      (err: unknown) => {
        clearTimeout(timer);
        resolve({ stop: err instanceof Error && err.name === 'Timeout' ? 'timed-out' : 'failed', ms: elapsed(t0), error: describeError(err) });
      },
    );
  });
}

/** Milliseconds since `t0` (performance.now()), to the microsecond. */
export function elapsed(t0: number): number {
  return Math.round((performance.now() - t0) * 1000) / 1000;
}

/**
 * A stop's report as it ends now: `at` and `durationMs` are measured from `t0`
 * (performance.now() when the stop began).
 */
export function endReport(t0: number, report: Omit<StopReport, 'at' | 'durationMs'>): StopReport {
  const durationMs = elapsed(t0);
  return { kind: report.kind, cell: report.cell, source: report.source, sources: report.sources, at: Date.now() - durationMs, durationMs, runs: report.runs, devices: report.devices, unsafe: report.unsafe };
}

/** A report row for a device whose stop went as `outcome` (safe routine not run yet). */
export function stopRow(m: { device: { name: string }; safeGroup: number }, outcome: StopOutcome): DeviceStopReport {
  return { device: m.device.name, stop: outcome.stop, safe: 'skipped', safeGroup: m.safeGroup, stopError: outcome.error, safeError: null, stopMs: outcome.ms, safeMs: null };
}

/**
 * Why a device is not known stopped and safe after its row in a stop, or null when it is: its
 * stop failed or timed out, or its safe routine ran and did not succeed (a routine a halt cut
 * short included; one the halt kept from starting is `skipped`, its device stopped).
 */
export function debtOf(row: DeviceStopReport): string | null {
  if (row.stop !== 'stopped') return row.stop === 'timed-out' ? `its stop was not acknowledged (${row.stopError})` : `its stop failed (${row.stopError})`;
  if (row.safe === 'cancelled') return `its safe routine was cut short by a halt (${row.safeError})`;
  if (row.safe === 'failed' || row.safe === 'timed-out') return `its safe routine ${row.safe === 'timed-out' ? 'timed out' : 'failed'} (${row.safeError})`;
  return null;
}
