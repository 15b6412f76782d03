import { CancelScope } from './cancel-scope';
import { Failed, isCancellation } from './reasons';

/** What a group does when one of its tasks fails. */
export type FailurePolicy = 'cancel-siblings' | 'report-only';

export interface TaskFailure {
  task: string;
  error: unknown;
}

/**
 * Structured concurrency, as trio's nursery and curio's TaskGroup: tasks share one scope (a
 * child of the parent given), and `wait()` returns only when every task has settled.
 *
 * - `cancel-siblings` (the default): the first task to fail with an error that is not a
 *   cancellation cancels the group's scope with `Failed(error)`, so its siblings' awaited
 *   operations reject promptly; `wait()` rejects with that first error.
 * - `report-only`: failures are collected in `failures` and siblings go on; `wait()` resolves.
 * - A task rejected with the group's own cancellation is not a failure: it is how a cancelled
 *   task ends. Any other rejection, a task's own deadline (`Timeout`) included, is a failure.
 *   If the parent itself was cancelled, `wait()` rejects with the parent's reason.
 */
export class TaskGroup {
  readonly scope: CancelScope;
  readonly failures: TaskFailure[] = [];
  private readonly pending = new Set<Promise<void>>();
  private firstError: { error: unknown } | undefined;

  constructor(
    parent: CancelScope,
    readonly policy: FailurePolicy = 'cancel-siblings',
    name = 'task group',
  ) {
    this.scope = parent.child({ name });
  }

  /** Start `fn` now as a task of the group, with the group's signal. */
  spawn(name: string, fn: (signal: AbortSignal) => Promise<unknown>): void {
    const task = (async () => {
      try {
        this.scope.throwIfCancelled();
        await fn(this.scope.signal);
      } catch (error) {
        if (isCancellation(error) && this.scope.cancelled) return;
        this.failures.push({ task: name, error });
        if (this.policy === 'cancel-siblings' && !this.firstError) {
          this.firstError = { error };
          this.scope.cancel(new Failed(error, name));
        }
      }
    })();
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  /** Wait until every task has settled; see the class comment for what it resolves or rejects with. */
  async wait(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    const parentReason = this.scope.parent?.reason;
    this.scope.close();
    if (this.firstError) throw this.firstError.error;
    if (parentReason) throw parentReason;
  }
}
