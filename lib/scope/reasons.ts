import { showValue } from '../errors/workcell-error';

/**
 * Why a cancel scope fired. Every scope fires at most once, with one of these four reasons; the
 * reason is what an awaiting operation rejects with, so code that catches it can tell an
 * emergency stop from a deliberate cancel, a deadline or a failure elsewhere in the run.
 */
export type CancelKind = 'estop' | 'cancelled' | 'timeout' | 'failed';

/** Base class of the four cancellation reasons. `instanceof Cancellation` tells cancellation from a fault. */
export abstract class Cancellation extends Error {
  abstract readonly kind: CancelKind;
  /** Who or what asked for it (a node, the editor, a remote topic); shown to the operator. */
  readonly source: string | undefined;
  constructor(message: string, source?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.source = source;
  }
}

/** The cell's emergency stop (or halt) cancelled the work. */
export class EStop extends Cancellation {
  readonly kind = 'estop' as const;
  override readonly name = 'EStop';
  constructor(source?: string, message?: string) {
    super(message ?? `emergency stop${source ? ` (${source})` : ''}`, source);
  }
}

/** Someone cancelled the work on purpose (cancel run, a newer run replacing this one, a redeploy). */
export class Cancelled extends Cancellation {
  readonly kind = 'cancelled' as const;
  override readonly name = 'Cancelled';
  constructor(source?: string, message?: string) {
    super(message ?? `cancelled${source ? ` (${source})` : ''}`, source);
  }
}

/** A fail-after deadline passed. `timeoutMs` is the deadline's length as configured. */
export class Timeout extends Cancellation {
  readonly kind = 'timeout' as const;
  override readonly name = 'Timeout';
  readonly timeoutMs: number | undefined;
  constructor(what: string, timeoutMs?: number) {
    super(timeoutMs === undefined ? `${what} timed out` : `${what} timed out after ${timeoutMs} ms`, what);
    this.timeoutMs = timeoutMs;
  }
}

/** Something else failed and took this work down with it (a sibling branch's error, a device fault). */
export class Failed extends Cancellation {
  readonly kind = 'failed' as const;
  override readonly name = 'Failed';
  constructor(cause: unknown, source?: string) {
    super(`failed: ${describeError(cause)}`, source, { cause });
  }
}

/** True for any of the four cancellation reasons. */
export function isCancellation(err: unknown): err is Cancellation {
  return err instanceof Cancellation;
}

/**
 * The message of an error-like value, for error sentences: an Error's message, a string as it
 * is, anything else as showValue shows it (a thrown plain object, a circular one included).
 */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  return showValue(err);
}
