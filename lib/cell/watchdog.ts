import type { AbortContext } from './abort-context';

/**
 * A dead-man watchdog on a cell: unless `beat()` is called at least every `timeoutMs`, the
 * trip source `id` becomes active and trips the cell's emergency stop (or halt). The next beat
 * clears the trip source again, but the cell stays latched until an explicit reset; while the
 * heartbeat is missing, reset is refused with "heartbeat lost". `stop()` disarms it and clears
 * its trip source. Arming starts the first period at once.
 */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private lost = false;
  private stopped = false;

  constructor(
    private readonly cell: AbortContext,
    readonly id: string,
    readonly timeoutMs: number,
    private readonly kind: 'estop' | 'halt' = 'estop',
  ) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`watchdog ${id}: the timeout must be a positive number of ms, got ${timeoutMs}`);
    this.arm();
  }

  /** True while the heartbeat is missing. */
  get isLost(): boolean {
    return this.lost;
  }

  /** A heartbeat: restarts the period; clears the trip source if the heartbeat had been lost. */
  beat(): void {
    if (this.stopped) return;
    if (this.lost) {
      this.lost = false;
      this.cell.setTripSource(this.id, false);
    }
    this.arm();
  }

  /** Disarm for good and clear the trip source. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.lost) this.cell.setTripSource(this.id, false);
    this.lost = false;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.lost = true;
      void this.cell.setTripSource(this.id, true, `heartbeat lost: none within ${this.timeoutMs} ms`, this.kind)?.catch(() => undefined);
    }, this.timeoutMs);
  }
}
