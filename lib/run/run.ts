import { EventEmitter } from 'node:events';
import { randomFillSync } from 'node:crypto';
import { CancelScope, abortable } from '../scope/cancel-scope';
import { Cancellation, Cancelled, Failed, Timeout, describeError, isCancellation } from '../scope/reasons';
import { WorkcellError } from '../errors/workcell-error';

/** How a run ended. Exactly one per run. */
export type RunOutcome = 'completed' | 'failed' | 'cancelled' | 'timed-out' | 'aborted';

/** What a failing parallel branch does to its run: fail the run (default) or only report. */
export type BranchPolicy = 'fail-run' | 'report-only';

/** A run's outcome record; plain data, safe to put on a message. */
export interface RunResult {
  outcome: RunOutcome;
  run: string;
  sequence: string;
  /** The step the run was in when it ended (the failing step for a failure), or null. */
  step: string | null;
  /** The error message, or null when completed. */
  error: string | null;
  /** Who ended it, for cancellations and emergency stops. */
  source: string | null;
  startedAt: number;
  endedAt: number;
  durationMs: number;
  /** Errors of branches under the report-only policy. */
  branchErrors: { step: string; error: string }[];
}

export interface RunOptions {
  /** The sequence's name, for messages and records. */
  sequence: string;
  /** The cell's scope this run nests in. */
  parent: CancelScope;
  /** Fail-after deadline for the whole run, ms. The run ends `timed-out`. */
  timeoutMs?: number;
  policy?: BranchPolicy;
  /**
   * Called once with the `RunResult` when the run ends, before `'end'` is emitted: for the
   * owner of the run (its cell), which must release what the run held before anyone listening
   * on `'end'` reacts (and perhaps starts the next run). A direct call, no listener per run.
   */
  onEnd?: (result: RunResult) => void;
}

const OUTCOME_OF: Record<Cancellation['kind'], RunOutcome> = {
  estop: 'aborted',
  cancelled: 'cancelled',
  timeout: 'timed-out',
  failed: 'failed',
};

/** Random bytes for run ids, drawn from the CSPRNG in batches: one call per 256 ids, not per id. */
const ID_BYTES = 5;
const idPool = Buffer.alloc(ID_BYTES * 256);
let idPoolAt = idPool.length;

/** Server-issued run ids: time-ordered, unguessable, short enough for a status line. */
export function newRunId(): string {
  if (idPoolAt === idPool.length) {
    randomFillSync(idPool);
    idPoolAt = 0;
  }
  const random = idPool.toString('hex', idPoolAt, idPoolAt + ID_BYTES);
  idPoolAt += ID_BYTES;
  return `${Date.now().toString(36)}-${random}`;
}

/**
 * One execution of a sequence. Its id is issued here, never taken from a message.
 *
 * - It ends exactly once: the first of completion, failure, cancellation, deadline or
 *   emergency stop decides the outcome, and `'end'` is emitted once with the `RunResult`.
 * - Everything the run does nests in its scope; any cancellation of the scope (a parent's
 *   emergency stop, its own deadline, `cancel()`, a failing branch) ends the run with the
 *   outcome the reason maps to: EStop → aborted, Cancelled → cancelled, Timeout → timed-out,
 *   Failed → failed.
 * - Parallel branches share the scope. Under `fail-run`, a step failing with an error that is
 *   not a cancellation fails the run and cancels every sibling step in flight; under
 *   `report-only` the error is recorded in `branchErrors` and the run goes on.
 * - `complete()` asks to complete: the run ends `completed` as soon as no step is in flight
 *   (structured concurrency: a run never completes with work still running in it).
 *
 * Events: `'end'` (RunResult), `'branch-error'` {step, error}, `'step'` (the step's name, each
 * time the run enters another step than the one it is in).
 */
export class Run extends EventEmitter {
  readonly id = newRunId();
  readonly sequence: string;
  readonly scope: CancelScope;
  readonly policy: BranchPolicy;
  readonly startedAt = Date.now();
  private readonly startedHr = performance.now();
  private currentStep: string | null = null;
  private failedStep: string | null = null;
  private failureCause: unknown = undefined;
  private inFlight = 0;
  private completionRequested = false;
  private readonly branchErrors: { step: string; error: string }[] = [];
  private outcome: RunResult | undefined;
  private readonly onEnd: ((result: RunResult) => void) | undefined;

  constructor(options: RunOptions) {
    super();
    this.sequence = options.sequence;
    this.policy = options.policy ?? 'fail-run';
    this.onEnd = options.onEnd;
    this.scope = options.parent.child({ name: `run ${this.id}`, timeoutMs: options.timeoutMs, onDeadline: 'fail' });
    if (this.scope.cancelled) {
      queueMicrotask(() => this.endByCancellation(this.scope.reason!));
    } else {
      // The scope's own cheap listener (not an EventTarget 'abort' listener, which costs more
      // than the rest of the run's construction): added first, it runs before every step's
      // abort listener, so the run has ended when its steps see their cancellation.
      this.scope.addListener(() => this.endByCancellation(this.scope.reason!));
    }
  }

  get ended(): boolean {
    return this.outcome !== undefined;
  }

  get result(): RunResult | undefined {
    return this.outcome;
  }

  /** The step the run is in (the last one entered). */
  get step(): string | null {
    return this.currentStep;
  }

  /** Steps in flight right now. */
  get activeSteps(): number {
    return this.inFlight;
  }

  /**
   * Refuse to go on if the run has ended: throws the reason it ended with (a cancellation, or a
   * WorkcellError for a completed run).
   */
  throwIfEnded(): void {
    // A run born cancelled (its deadline already past, its cell already aborted) has ended
    // even before its deferred 'end' is emitted.
    if (!this.outcome && !this.scope.cancelled) return;
    if (this.scope.reason) throw this.scope.reason;
    throw new WorkcellError('run-ended', `run ${this.id} of sequence "${this.sequence}" has already ended (${this.outcome?.outcome})`, { subject: this.id });
  }

  /**
   * Run one step of the run: `fn` gets the run's signal and its rejection or the run's
   * cancellation (whichever comes first) is what this rejects with. A step's own error fails the
   * run by the branch policy. The step counts as in flight until `fn` has settled or the run has
   * been cancelled.
   */
  runStep<T>(name: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    // Not an async function: the step's promise is the race's, with one reaction, and a
    // synchronous throw is settled synchronously as before (the run fails before this returns).
    try {
      this.throwIfEnded();
    } catch (err) {
      return Promise.reject(err);
    }
    if (name !== this.currentStep) this.enterStep(name);
    this.inFlight++;
    const signal = this.scope.signal;
    let raced: Promise<T>;
    try {
      raced = abortable(signal, fn(signal));
    } catch (err) {
      this.stepFailed(err, name);
      return Promise.reject(err);
    }
    return raced.then(
      (value) => {
        this.stepEnded();
        return value;
      },
      (err: unknown) => {
        this.stepFailed(err, name);
        throw err;
      },
    );
  }

  private stepFailed(err: unknown, name: string): void {
    try {
      if (!isCancellation(err) || !this.scope.cancelled) this.fail(err, name);
    } finally {
      this.stepEnded();
    }
  }

  private stepEnded(): void {
    this.inFlight--;
    this.maybeComplete();
  }

  /** Enter a step without running anything through the run (for bookkeeping of outside work). */
  enter(step: string): void {
    this.throwIfEnded();
    if (step !== this.currentStep) this.enterStep(step);
  }

  /** The run moves to another step: `'step'` tells watchers (an operator's view) where it is. */
  private enterStep(step: string): void {
    this.currentStep = step;
    this.emit('step', step);
  }

  /** The error that failed the run (what was given to `fail()`), if it failed that way. */
  get failure(): unknown {
    return this.failureCause;
  }

  /**
   * A step failed: fail the run (fail-run) or record it (report-only). A `Timeout` (a step's own
   * fail-after deadline) ends the run `timed-out`; any other error ends it `failed`.
   */
  fail(error: unknown, step: string | null = this.currentStep): void {
    if (this.outcome || this.scope.cancelled) return;
    if (this.policy === 'report-only') {
      this.branchErrors.push({ step: step ?? '(unknown step)', error: describeError(error) });
      this.emit('branch-error', { step, error });
      return;
    }
    this.failedStep = step;
    this.failureCause = error;
    // A step's own deadline (fail-after) ends the run timed-out, not failed: the operator
    // needs to know a deadline passed.
    this.scope.cancel(error instanceof Timeout ? error : new Failed(error, step ?? undefined));
  }

  /** Cancel the run with `reason` (default `Cancelled`). No effect once ended. */
  cancel(reason: Cancellation = new Cancelled()): void {
    this.scope.cancel(reason);
  }

  /** Ask the run to complete; it ends `completed` once no step is in flight. */
  complete(): void {
    if (this.outcome) return;
    this.completionRequested = true;
    this.maybeComplete();
  }

  private maybeComplete(): void {
    // A cancelled scope decides the outcome, even while its 'end' is still deferred.
    if (this.scope.cancelled) return;
    if (this.completionRequested && this.inFlight === 0 && !this.outcome) {
      this.finish('completed', null, null);
      this.scope.close();
    }
  }

  private endByCancellation(reason: Cancellation): void {
    if (this.outcome) return;
    const error = reason instanceof Failed ? describeError(reason.cause) : reason.message;
    const step = this.failedStep ?? this.currentStep;
    this.finish(OUTCOME_OF[reason.kind], error, reason.source ?? null, step);
  }

  private finish(outcome: RunOutcome, error: string | null, source: string | null, step: string | null = this.currentStep): void {
    const endedAt = Date.now();
    this.outcome = {
      outcome,
      run: this.id,
      sequence: this.sequence,
      step,
      error,
      source,
      startedAt: this.startedAt,
      endedAt,
      durationMs: Math.round((performance.now() - this.startedHr) * 1000) / 1000,
      branchErrors: [...this.branchErrors],
    };
    this.onEnd?.(this.outcome);
    this.emit('end', this.outcome);
  }
}
