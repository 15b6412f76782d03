import { AbortContext, CancelScope, Run, WorkcellError, abortable, describeError, isCancellation } from '../../lib';
import { cellOfRun, endedRun, getCell } from './cell-registry';
import { DoneFn, NodeMessage, RedNode, SendFn } from './red';
import { RunRef, readRunRef } from './run-ref';

/** What a checkpointed input handler gets: its cell, its run (if any) and a way to run steps. */
export interface StepContext {
  readonly cell: AbortContext;
  readonly cellId: string;
  readonly ref: RunRef | undefined;
  readonly run: Run | undefined;
  /** The scope the work runs under: the run's, or an ad-hoc child of the cell's root. */
  readonly scope: CancelScope;
  /**
   * Run `fn` as a step: inside a run it counts as in flight and its failure follows the run's
   * branch policy; outside a run it still obeys the cell's emergency stop.
   */
  step<T>(label: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

export type CheckpointedHandler = (msg: NodeMessage, send: SendFn, ctx: StepContext) => Promise<void>;

/** A node that reads its cell's id from its config. */
export interface CheckpointOptions {
  cellId: string;
  /** How the node names itself in errors and run records ("move X", "sequence end"). */
  label: () => string;
  /** Shown while a held cell makes the message wait. */
  onHeld?: (held: boolean) => void;
  /** Messages this returns true for were handled here and bypass the checkpoint. */
  before?: (msg: NodeMessage) => boolean;
}

/**
 * Make the node's input a checkpoint (every workcell node's input is one):
 * - a message whose run has ended (cancelled, aborted, failed, completed) goes no further; the
 *   node's status says why and the message is finished without error (its run's outcome has
 *   already been reported once by the sequence);
 * - while the cell is held the message waits here;
 * - a wrong `msg.workcell`, a run of another cell, an unknown run or an aborted cell for work
 *   outside a run are errors that reach Catch nodes through `done(err)`;
 * - whatever the handler throws reaches Catch nodes too, with `msg.error` filled in.
 */
export function checkpointedInput(node: RedNode, options: CheckpointOptions, handler: CheckpointedHandler): void {
  node.on('input', (msg, send, done: DoneFn) => {
    if (options.before?.(msg)) {
      done();
      return;
    }
    let handled: Promise<void>;
    try {
      handled = handle(node, options, handler, msg, send);
    } catch (err) {
      handled = Promise.reject(err);
    }
    handled.then(
      () => done(),
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(describeError(err));
        node.status({ fill: 'red', shape: 'dot', text: shortText(error.message) });
        done(error);
      },
    );
  });
}

/**
 * One message through the checkpoint. Synchronous up to the handler when the cell is not held
 * (the common case: no promise, no status update per message); throws or rejects with what
 * should reach Catch nodes.
 */
function handle(node: RedNode, options: CheckpointOptions, handler: CheckpointedHandler, msg: NodeMessage, send: SendFn): Promise<void> {
  const where = options.label();
  const cell = getCell(options.cellId);
  if (!cell) {
    throw new WorkcellError('no-cell', `${where}: no abort context (cell) is configured for this node, or it failed to start`, { operation: where });
  }
  const ref = readRunRef(msg, where);
  if (ref?.cell !== undefined && ref.cell !== options.cellId) {
    throw foreignRun(where, ref.run, ref.cell, cell);
  }
  const refused = (err: unknown): Promise<void> => {
    if (ref) {
      const ended = endedRun(ref.run);
      if (ended && ended.cell === options.cellId) {
        node.status({ fill: 'grey', shape: 'ring', text: shortText(`dropped: run ${ended.result.outcome}`) });
        return Promise.resolve();
      }
      const other = cellOfRun(ref.run) ?? ended?.cell;
      if (other && other !== options.cellId) throw foreignRun(where, ref.run, other, cell);
      if (isCancellation(err) && !cell.getRun(ref.run)) {
        node.status({ fill: 'grey', shape: 'ring', text: shortText(`dropped: ${err.kind}`) });
        return Promise.resolve();
      }
    }
    throw err;
  };
  let scope: CancelScope | null;
  try {
    scope = cell.checkpointNow(ref?.run, where);
  } catch (err) {
    return refused(err);
  }
  if (scope) return runHandler(node, options, handler, msg, send, cell, ref, scope);
  // Held: the message waits here, and the node says so until it goes on (or is refused).
  options.onHeld?.(true);
  return cell.checkpoint(ref?.run, where).then(
    (s) => {
      options.onHeld?.(false);
      return runHandler(node, options, handler, msg, send, cell, ref, s);
    },
    (err: unknown) => {
      options.onHeld?.(false);
      return refused(err);
    },
  );
}

function runHandler(
  node: RedNode,
  options: CheckpointOptions,
  handler: CheckpointedHandler,
  msg: NodeMessage,
  send: SendFn,
  cell: AbortContext,
  ref: RunRef | undefined,
  scope: CancelScope,
): Promise<void> {
  const run = ref ? cell.getRun(ref.run) : undefined;
  const ctx: StepContext = {
    cell,
    cellId: options.cellId,
    ref,
    run,
    scope,
    step: run ? (label, fn) => run.runStep(label, fn) : (_label, fn) => abortable(scope.signal, fn(scope.signal)),
  };
  let work: Promise<void>;
  try {
    work = handler(msg, send, ctx);
  } catch (err) {
    work = Promise.reject(err);
  }
  return work.then(
    () => {
      if (!run) scope.close();
    },
    (err: unknown) => {
      if (!run) scope.close();
      // A step cut off by its run's end is not an error of its own: the run's outcome (reported
      // once, by the sequence) says why. Outside a run there is no outcome, so it is an error.
      if (run && run.ended && isCancellation(err) && err !== run.failure) {
        node.status({ fill: 'grey', shape: 'ring', text: shortText(`${run.result?.outcome}: ${err.message}`) });
        return;
      }
      throw err;
    },
  );
}

function foreignRun(where: string, runId: string, otherCellId: string, cell: AbortContext): WorkcellError {
  const other = getCell(otherCellId);
  return new WorkcellError(
    'foreign-run',
    `${where}: run ${runId} belongs to cell "${other?.name ?? otherCellId}", not to this node's cell "${cell.name}"`,
    { subject: cell.name, operation: where, value: runId },
  );
}

/** Node-RED status text stays short (about 20 characters is what fits under a node). */
export function shortText(text: string, max = 32): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
