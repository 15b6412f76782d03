import { addAbortListener, markRacing, removeAbortListener } from '../scope/cancel-scope';

/**
 * A job of the queue as its function sees it (`CommandQueue.runJob`). `signal` fires on any
 * abort of this job (the caller's signal or `abortAll`); it is created when first read, so a job
 * that never looks at it costs no `AbortController`.
 */
export interface QueueJob {
  readonly label: string;
  readonly signal: AbortSignal;
}

const noop = (): void => undefined;

class Job<T> implements QueueJob {
  started = false;
  /** Resolved, rejected or aborted: the caller has its answer. */
  settled = false;
  aborted = false;
  reason: unknown = undefined;
  private controller: AbortController | undefined;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;
  /** The caller's signal fired: abort this job with its reason (set by the queue, once per job). */
  onCallerAbort: () => void = noop;

  constructor(
    readonly label: string,
    readonly callerSignal: AbortSignal,
    readonly fn: (job: QueueJob) => Promise<T>,
    readonly onAbort: ((reason: unknown) => void) | undefined,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Fire the job's signal, if anyone has asked for it (its listeners run now, synchronously). */
  fireSignal(): void {
    this.controller?.abort(this.reason);
  }
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
  private readonly jobs: Job<unknown>[] = [];
  private running: Job<unknown> | undefined;

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
    return this.runJob(label, signal, (job) => fn(job.signal), onAbort);
  }

  /**
   * `run`, with `fn` given the job instead of its signal: the job's `signal` (the same contract:
   * it fires on any abort of this job) is created only when read. The returned promise rejects
   * with `signal.reason` synchronously when `signal` fires while the job is pending.
   */
  runJob<T>(label: string, signal: AbortSignal, fn: (job: QueueJob) => Promise<T>, onAbort?: (reason: unknown) => void): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const job = new Job<T>(label, signal, fn, onAbort);
    job.onCallerAbort = () => this.abortJob(job as Job<unknown>, signal.reason);
    const promise = new Promise<T>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    addAbortListener(signal, job.onCallerAbort);
    this.jobs.push(job as Job<unknown>);
    this.next();
    return markRacing(promise, signal);
  }

  /** Abort every waiting and running job with `reason`. */
  abortAll(reason: unknown): void {
    const all = this.running ? [this.running, ...this.jobs] : [...this.jobs];
    for (const job of all) this.abortJob(job, reason);
  }

  /** Abort one job: a waiting one leaves the queue, a running one is told to stop. Both reject now. */
  private abortJob(job: Job<unknown>, reason: unknown): void {
    if (job.settled || job.aborted) return;
    job.aborted = true;
    job.reason = reason;
    job.settled = true;
    removeAbortListener(job.callerSignal, job.onCallerAbort);
    if (!job.started) {
      const i = this.jobs.indexOf(job);
      if (i >= 0) this.jobs.splice(i, 1);
      job.reject(reason);
      return;
    }
    // The driver's own listeners on the job's signal first, then onAbort, as they always ran.
    try {
      job.fireSignal();
      job.onAbort?.(reason);
    } catch (err) {
      // As from an abort listener: reported, and the job is still rejected and released.
      process.nextTick(() => {
        throw err;
      });
    } finally {
      setTimeout(() => this.release(job), this.abortGraceMs).unref();
      job.reject(reason);
    }
  }

  private next(): void {
    if (this.running) return;
    const job = this.jobs.shift();
    if (!job) return;
    this.running = job;
    this.start(job);
  }

  private start(job: Job<unknown>): void {
    job.started = true;
    let work: Promise<unknown>;
    try {
      work = job.fn(job);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      (value) => {
        this.release(job);
        this.settle(job, true, value);
      },
      (err: unknown) => {
        this.release(job);
        this.settle(job, false, err);
      },
    );
  }

  private settle(job: Job<unknown>, ok: boolean, value: unknown): void {
    if (job.settled) return;
    job.settled = true;
    removeAbortListener(job.callerSignal, job.onCallerAbort);
    if (ok) job.resolve(value);
    else job.reject(value);
  }

  /** The job's function has settled (or its grace has passed): the next job may start. */
  private release(job: Job<unknown>): void {
    if (this.running !== job) return;
    this.running = undefined;
    this.next();
  }
}
