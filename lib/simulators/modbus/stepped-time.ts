import { performance } from 'node:perf_hooks';

/**
 * Simulated time for a model that is advanced when it is looked at (every Modbus request and
 * every test accessor calls `advance`), so a model needs no timer of its own and a request sees
 * the state as of the moment it arrives. Real time elapsed × `timeScale` is simulated time; it
 * is handed to `step` in slices of at most `sliceMs` simulated ms, so a phase change (contact,
 * a switch closing) happens within one slice of where it would.
 */
export class SteppedTime {
  /** Simulated ms per real ms; may be changed at any time (it applies from the next `advance`). */
  timeScale: number;
  private last = performance.now();

  constructor(
    timeScale: number,
    private readonly sliceMs: number,
    private readonly step: (dtMs: number) => void,
  ) {
    if (!(timeScale > 0)) throw new RangeError(`the time scale must be more than 0, got ${timeScale}`);
    this.timeScale = timeScale;
  }

  /** Run the model up to now. */
  advance(): void {
    const now = performance.now();
    let remaining = (now - this.last) * this.timeScale;
    this.last = now;
    while (remaining > 0) {
      const dt = Math.min(this.sliceMs, remaining);
      this.step(dt);
      remaining -= dt;
    }
  }
}
