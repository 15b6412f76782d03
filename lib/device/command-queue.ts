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

/**
 * What `CommandQueue.runTask` runs: one object instead of a function and callbacks.
 * - `start(job)` does the work, once, when the job's turn comes;
 * - `aborted(reason)` is `onAbort`: the running job was aborted (never called for a job that was
 *   still waiting);
 * - `settled()` is called when the work has settled, before the next job starts and before the
 *   caller hears the result.
 */
export interface QueueTask<T> {
  start(job: QueueJob): Promise<T>;
  aborted?(reason: unknown): void;
  settled?(): void;
}

/** `run()`'s function and callback as a task. */
class FnTask<T> implements QueueTask<T> {
  constructor(
    private readonly fn: (signal: AbortSignal) => Promise<T>,
    readonly aborted: ((reason: unknown) => void) | undefined,
  ) {}

  start(job: QueueJob): Promise<T> {
    return this.fn(job.signal);
  }
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
    readonly task: QueueTask<T>,
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
    return this.runTask(label, signal, new FnTask(fn, onAbort));
  }

  /**
   * `run`, with the work as a `QueueTask` whose `start` is given the job instead of its signal:
   * the job's `signal` (the same contract: it fires on any abort of this job) is created only
   * when read. The returned promise rejects with `signal.reason` synchronously when `signal`
   * fires while the job is pending (it is marked as racing `signal`, see `markRacing`).
   */
  runTask<T>(label: string, signal: AbortSignal, task: QueueTask<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(signal.reason);
    const job = new Job<T>(label, signal, task);
    const promise = new Promise<T>((resolve, reject) => {
      job.resolve = resolve;
      job.reject = reject;
    });
    job.onCallerAbort = () => this.abortJob(job as Job<unknown>, signal.reason);
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
      job.task.aborted?.(reason);
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
      work = job.task.start(job);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      (value) => this.finished(job, true, value),
      (err: unknown) => this.finished(job, false, err),
    );
  }

  /** The job's work has settled: its task hears first, then the next job starts, then the caller. */
  private finished(job: Job<unknown>, ok: boolean, value: unknown): void {
    const task = job.task;
    if (task.settled) {
      try {
        task.settled();
      } catch (err) {
        // As a `finally` that throws: the job fails with that error.
        ok = false;
        value = err;
      }
    }
    this.release(job);
    this.settle(job, ok, value);
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
