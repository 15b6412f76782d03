import { showValue } from '../errors/workcell-error';
import type { BranchPolicy } from '../run/run';

/** The cell's states (PackML-like): ready → running ⇄ held; from anywhere aborting → aborted (latched) → resetting → ready. */
export type CellState = 'ready' | 'running' | 'held' | 'aborting' | 'aborted' | 'resetting';

export interface AbortContextOptions {
  name: string;
  /** Bound on each device's safe routine, ms. */
  safeTimeoutMs?: number;
  /** Bound on each device's stop acknowledgement, ms. */
  stopTimeoutMs?: number;
  /** Bound on each device's alarm clearing during reset, ms. */
  resetTimeoutMs?: number;
  /**
   * Start latched in `aborted`, tripped by these sources: an emergency stop survives the
   * restart of the cell's node (a redeploy, a restart of Node-RED) and still needs an explicit
   * reset. Every device added to a latched cell owes its stop (see `addDevice`).
   */
  startAborted?: string[];
}

/** How a trip was caused, beyond its source text. */
export interface TripOptions {
  /**
   * The trip was caused by a redeploy or shutdown of Node-RED, not by anyone asking for a stop:
   * a latch made only of such trips is not kept across a restart (`latch` event's `persistent`).
   */
  redeploy?: boolean;
}

export interface StartRunOptions {
  sequence: string;
  timeoutMs?: number;
  policy?: BranchPolicy;
}

/** The latched trip sources changed (`'latch'` event). */
export interface LatchChange {
  cell: string;
  /** Every source latched now; empty once reset. */
  sources: string[];
  /** False when every source is a redeploy's: such a latch is not kept across a restart. */
  persistent: boolean;
}

/** A cell's timeout option, checked: a positive number of ms, or a RangeError naming it. */
export function positiveMs(what: string, ms: number): number {
  if (!(Number.isFinite(ms) && ms > 0)) throw new RangeError(`the cell's ${what} must be a positive number of ms, got ${showValue(ms)}`);
  return ms;
}
