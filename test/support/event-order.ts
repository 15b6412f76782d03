/**
 * Timing claims as orderings of events, which hold on a loaded machine where elapsed-time
 * bounds do not: "promptly" is "before a setImmediate scheduled at the trigger has run" (`tick`
 * in test/lib/helpers.ts), "in time" is "before the event that would otherwise have come".
 */

/** Resolves after `ms`, for a race against what should come first; the timer keeps no process alive. */
export function timePassed(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** The name of the event that happened first; each promise settles when its event happens (a rejection counts). */
export function firstOf(events: Record<string, Promise<unknown>>): Promise<string> {
  return Promise.race(Object.entries(events).map(([name, p]) => p.then(() => name, () => name)));
}

/**
 * Resolves once `predicate()` holds, looking every millisecond; rejects naming `what` after `ms`
 * (a generous deadline: it bounds a failing test, not the ordering a passing one asserts). A
 * state that lasts a few milliseconds can still be missed on a loaded machine: wait for what
 * remains of it (an event, a record the model keeps), not for a sample of it.
 */
export async function until(predicate: () => boolean, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
