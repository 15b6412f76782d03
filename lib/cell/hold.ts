import { Device, isPausable } from '../device/device';

/**
 * A cell's hold: the gate that checkpoints (and operations about to start on a device) wait at
 * while the cell is held, and the devices the hold paused, so that resume wakes exactly those.
 */
export class Hold {
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private readonly paused = new Set<Device>();

  /** What waiting work awaits: resolves when the hold is released; undefined while not held. */
  get released(): Promise<void> | undefined {
    return this.gate?.promise;
  }

  /** Close the gate: work arriving at a checkpoint waits from now on. */
  close(): void {
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.gate = { promise, open };
  }

  /** Open the gate: everything waiting goes on (or, after a trip, finds its run ended). */
  open(): void {
    const gate = this.gate;
    this.gate = undefined;
    gate?.open();
  }

  /**
   * Pause the busy pausable devices among `devices` and remember them. `signal` is the cell's:
   * once a trip has begun, no device writes its pause any more.
   */
  async pause(devices: Iterable<Device>, signal: AbortSignal): Promise<void> {
    const targets = [...devices].filter((d) => isPausable(d) && d.status === 'busy');
    for (const d of targets) this.paused.add(d);
    await Promise.allSettled(targets.map((d) => (isPausable(d) ? d.pause(signal) : undefined)));
  }

  /**
   * Resume the devices this hold paused that are still in the cell (`inCell`). `signal` is the
   * cell's: once a trip has begun, no device writes its resume command.
   */
  async resume(inCell: (device: Device) => boolean, signal: AbortSignal): Promise<void> {
    const targets = [...this.paused].filter(inCell);
    this.paused.clear();
    await Promise.allSettled(targets.map((d) => (isPausable(d) ? d.resume(signal) : undefined)));
  }

  /** A trip: its stop supersedes every pause; nothing is to be resumed. */
  forgetPaused(): void {
    this.paused.clear();
  }
}
