/** How long to wait between reconnection attempts. */
export interface BackoffOptions {
  /** First delay, ms. Default 500. */
  minMs?: number;
  /** Largest delay, ms (the cap, jitter included). Default 15000, Node-RED's serial reconnect time. */
  maxMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /**
   * Fraction of the delay that is random, 0–1: the delay is drawn from
   * [delay × (1 − jitter), delay]. Default 0.2, so a cell's devices that lost one shared
   * serial server do not all hammer it in the same millisecond.
   */
  jitter?: number;
}

export const defaultBackoff: Required<BackoffOptions> = { minMs: 500, maxMs: 15000, factor: 2, jitter: 0.2 };

/**
 * The delay before reconnection attempt `attempt` (1 = the first retry after a loss or a failed
 * open): `min(maxMs, minMs × factor^(attempt−1))`, reduced by up to `jitter` of itself using
 * `random()` (0 ≤ r < 1). Never negative, never above `maxMs`. Throws a `RangeError` for
 * inconsistent options (negative delays, min > max, factor < 1, jitter outside 0–1).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { minMs, maxMs, factor, jitter } = resolveBackoff(options);
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  const base = Math.min(maxMs, minMs * Math.pow(factor, Math.min(exponent, 1000)));
  return Math.max(0, Math.round(base * (1 - jitter * random())));
}

/** Fills in defaults and validates; the error names the offending option and value. */
export function resolveBackoff(options: BackoffOptions = {}): Required<BackoffOptions> {
  const resolved = { ...defaultBackoff, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  const { minMs, maxMs, factor, jitter } = resolved;
  if (!(minMs >= 0)) throw new RangeError(`reconnect backoff: minimum delay must be 0 ms or more, got ${minMs}`);
  if (!(maxMs >= minMs)) throw new RangeError(`reconnect backoff: maximum delay ${maxMs} ms is below the minimum ${minMs} ms`);
  if (!(factor >= 1)) throw new RangeError(`reconnect backoff: factor must be 1 or more, got ${factor}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`reconnect backoff: jitter must be between 0 and 1, got ${jitter}`);
  return resolved;
}
