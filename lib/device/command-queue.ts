import { abortable } from '../scope/cancel-scope';

interface Job {
  readonly label: string;
  readonly controller: AbortController;
  readonly start: () => void;
  readonly reject: (reason: unknown) => void;
  started: boolean;
}

/**
 * A device's serialized command queue: one operation at a time, in arrival order.
 *
 * - A job whose signal fires while it waits is removed and rejects at once with the signal's
 *   reason; its function is never called, so nothing of it reaches the device.
 * - A job whose signal fires while it runs rejects at once with the reason, and `onAbort` is
 *   called so the driver can tell the device to stop. The next job starts only when the aborted
 *   job's function has settled (two operations never overlap on the wire), or after
 *   `abortGraceMs` if the driver never settles it.
 * - `abortAll(reason)` rejects every waiting and running job: the emergency stop's priority
 *   lane. Stop frames themselves never go through the queue.
 */
export class CommandQueue {
  private readonly jobs: Job[] = [];
  private running: Job | undefined;

  constructor(
    readonly name: string,
    private readonly abortGraceMs = 2000,
  ) {}

  /** Jobs waiting (not counting the one running). */
  get waiting(): number {
    return this.jobs.length;
  }

  /** True while a job runs. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /** The label of the job running now. */
  get current(): string | undefined {
    return this.running?.label;
  }

  /** Queue `fn`; see the class comment. `fn` receives a signal that fires on any abort of this job. */
  run<T>(label: string, signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>, onAbort?: (reason: unknown) => void): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const controller = new AbortController();
    const relay = () => controller.abort(signal.reason);
    signal.addEventListener('abort', relay, { once: true });
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        label,
        controller,
        started: false,
        reject,
        start: () => {
          job.started = true;
          let work: Promise<T>;
          try {
            work = fn(controller.signal);
          } catch (err) {
            work = Promise.reject(err);
          }
          let released = false;
          const release = () => {
            if (released) return;
            released = true;
            if (this.running === job) this.running = undefined;
            this.next();
          };
          work.then(release, release);
          abortable(controller.signal, work, (reason) => {
            onAbort?.(reason);
            setTimeout(release, this.abortGraceMs).unref();
          }).then(resolve, reject);
        },
      };
      controller.signal.addEventListener(
        'abort',
        () => {
          if (job.started) return;
          const i = this.jobs.indexOf(job);
          if (i >= 0) this.jobs.splice(i, 1);
          reject(controller.signal.reason);
        },
        { once: true },
      );
      this.jobs.push(job);
      this.next();
    }).finally(() => signal.removeEventListener('abort', relay));
  }

  /** Abort every waiting and running job with `reason`. */
  abortAll(reason: unknown): void {
    const all = this.running ? [this.running, ...this.jobs] : [...this.jobs];
    for (const job of all) job.controller.abort(reason);
  }

  private next(): void {
    if (this.running) return;
    const job = this.jobs.shift();
    if (!job) return;
    this.running = job;
    job.start();
  }
}
