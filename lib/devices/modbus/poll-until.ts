import { performance } from 'node:perf_hooks';
import { sleep } from '../../scope/cancel-scope';

export interface PollOptions {
  /** Time between the end of one read and the start of the next, ms. */
  periodMs: number;
  /** Give up once this long has passed since the first read began, ms. */
  timeoutMs: number;
  /** Aborts the wait between reads (rejects with its reason); a read in flight runs to its reply. */
  signal: AbortSignal;
}

/**
 * Read a device's state (`read`) until `done` holds for what was read, as a driver waits for a
 * limit switch or the end of a cycle. The first read starts at once; `seen` is called with every
 * value read (progress, the deepest position so far). Resolves `{value, met: true}` with the
 * value that met the condition, or `{value, met: false}` with the last value read once
 * `timeoutMs` has passed without it (the caller words the failure: it knows what it waited
 * for). A read that fails rejects with its error.
 */
export async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, options: PollOptions, seen?: (value: T) => void): Promise<{ value: T; met: boolean }> {
  const start = performance.now();
  for (;;) {
    options.signal.throwIfAborted();
    const value = await read();
    seen?.(value);
    if (done(value)) return { value, met: true };
    if (performance.now() - start >= options.timeoutMs) return { value, met: false };
    await sleep(options.periodMs, options.signal);
  }
}
