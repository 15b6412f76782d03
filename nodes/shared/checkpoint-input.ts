import { AbortContext, CancelScope, Run, WorkcellError, abortable, describeError, isCancellation } from '../../lib';
import { cellOfRun, endedRun, getCell, noCellError } from './cell-registry';
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
  /** How the node names itself in errors ("dev1: move X", "sequence end"). */
  label: () => string;
  /**
   * How the node names itself as a step of a run, for a run it fails before its step starts:
   * the name the user gave it, or a readable fallback (default: `label`).
   */
  step?: (msg: NodeMessage) => string;
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
 * - whatever the handler throws reaches Catch nodes too, with `msg.error` filled in;
 * - an error met before the handler's step (the checks above, a parameter the handler refuses)
 *   also fails the message's run, wherever it is in progress (`failRunOf`): a run ends even
 *   when its message cannot go on. An error of the step itself has failed the run already.
 */
export function checkpointedInput(node: RedNode, options: CheckpointOptions, handler: CheckpointedHandler): void {
  node.on('input', (msg, send, done: DoneFn) => {
    if (options.before?.(msg)) {
      done();
      return;
    }
    // One settlement per message: the handler's outcome goes straight to done (no promise of
    // its own for the checkpoint, none for the step context).
    const finish: Finish = (err, stepped) => {
      if (err === DONE) {
        done();
        return;
      }
      const error = err instanceof Error ? err : new Error(describeError(err));
      if (!stepped) failRunOf(msg, error, options.step ? options.step(msg) : options.label());
      node.status({ fill: 'red', shape: 'dot', text: shortText(error.message) });
      done(error);
    };
    try {
      handle(node, options, handler, msg, send, finish);
    } catch (err) {
      finish(err);
    }
  });
}

/** What `finish` is given when the message is done without error. */
const DONE = Symbol('done');

/**
 * Ends a message: with `DONE` it is done, with anything else that is what reaches Catch nodes.
 * `stepped`: the error came from (or after) a step of the run, which has dealt with it.
 */
type Finish = (err: unknown, stepped?: boolean) => void;

/** What a handler's `ctx` is: one object per message, its `step` a method, not a closure. */
class Context implements StepContext {
  /** Whether the handler has run a step (its errors then went through the run). */
  stepped = false;
  /**
   * Whether a step of this message failed on its own (before its run was cancelled), rather than
   * being cut off by its run's end: a sibling branch cut off by a failure sees that same error.
   */
  ownFailure = false;

  constructor(
    readonly cell: AbortContext,
    readonly cellId: string,
    readonly ref: RunRef | undefined,
    readonly run: Run | undefined,
    readonly scope: CancelScope,
  ) {}

  step<T>(label: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.stepped = true;
    if (this.run) return this.run.runStep(label, (signal) => this.watched(signal, fn));
    const signal = this.scope.signal;
    return abortable(signal, fn(signal));
  }

  /** `fn(signal)`, noting whether it fails while its signal is still live (a failure of its own). */
  private watched<T>(signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    let work: Promise<T>;
    try {
      work = fn(signal);
    } catch (err) {
      if (!signal.aborted) this.ownFailure = true;
      throw err;
    }
    return work.then(undefined, (err: unknown) => {
      if (!signal.aborted) this.ownFailure = true;
      throw err;
    });
  }
}

/**
 * One message through the checkpoint. Synchronous up to the handler when the cell is not held
 * (the common case: no promise, no status update per message); throws, or finishes with, what
 * should reach Catch nodes.
 */
function handle(node: RedNode, options: CheckpointOptions, handler: CheckpointedHandler, msg: NodeMessage, send: SendFn, finish: Finish): void {
  const where = options.label();
  const cell = getCell(options.cellId);
  if (!cell) throw noCellError(where, options.cellId);
  const ref = readRunRef(msg, where);
  if (ref?.cell !== undefined && ref.cell !== options.cellId) {
    throw foreignRun(where, ref.run, ref.cell, cell);
  }
  let scope: CancelScope | null;
  try {
    scope = cell.checkpointNow(ref?.run, where);
  } catch (err) {
    refused(node, options, where, cell, ref, err);
    finish(DONE);
    return;
  }
  if (scope) {
    runHandler(node, handler, msg, send, options.cellId, cell, ref, scope, finish);
    return;
  }
  // Held: the message waits here, and the node says so until it goes on (or is refused).
  options.onHeld?.(true);
  cell.checkpoint(ref?.run, where).then(
    (s) => {
      try {
        options.onHeld?.(false);
      } catch (e) {
        finish(e);
        return;
      }
      runHandler(node, handler, msg, send, options.cellId, cell, ref, s, finish);
    },
    (err: unknown) => {
      try {
        options.onHeld?.(false);
        refused(node, options, where, cell, ref, err);
        finish(DONE);
      } catch (e) {
        finish(e);
      }
    },
  );
}

/**
 * The checkpoint refused the message with `err`: a message of a run that has ended (or of a
 * cancelled run no longer known) is dropped with a status; anything else is thrown on.
 */
function refused(node: RedNode, options: CheckpointOptions, where: string, cell: AbortContext, ref: RunRef | undefined, err: unknown): void {
  if (ref) {
    const ended = endedRun(ref.run);
    if (ended && ended.cell === options.cellId) {
      node.status({ fill: 'grey', shape: 'ring', text: shortText(`dropped: run ${ended.result.outcome}`) });
      return;
    }
    const other = cellOfRun(ref.run) ?? ended?.cell;
    if (other && other !== options.cellId) throw foreignRun(where, ref.run, other, cell);
    if (isCancellation(err) && !cell.getRun(ref.run)) {
      node.status({ fill: 'grey', shape: 'ring', text: shortText(`dropped: ${err.kind}`) });
      return;
    }
  }
  throw err;
}

function runHandler(
  node: RedNode,
  handler: CheckpointedHandler,
  msg: NodeMessage,
  send: SendFn,
  cellId: string,
  cell: AbortContext,
  ref: RunRef | undefined,
  scope: CancelScope,
  finish: Finish,
): void {
  const run = ref ? cell.getRun(ref.run) : undefined;
  const ctx = new Context(cell, cellId, ref, run, scope);
  let work: Promise<void>;
  try {
    work = handler(msg, send, ctx);
  } catch (err) {
    work = Promise.reject(err);
  }
  work.then(
    () => {
      if (!run) scope.close();
      finish(DONE);
    },
    (err: unknown) => {
      if (!run) scope.close();
      // A step cut off by its run's end is not an error of its own: the run's outcome (reported
      // once, by the sequence) says why; so is a sibling branch cut off by another branch's
      // failure (it sees that failure). Outside a run there is no outcome, so it is an error.
      if (run && run.ended && ((isCancellation(err) && err !== run.failure) || (err === run.failure && !ctx.ownFailure))) {
        node.status({ fill: 'grey', shape: 'ring', text: shortText(`${run.result?.outcome}: ${describeError(err)}`) });
        finish(DONE);
        return;
      }
      finish(err, ctx.stepped);
    },
  );
}

/**
 * Fail the run `msg` belongs to with `error` at `step` (`Run.fail`: by its branch policy), if
 * that run is in progress in any cell: a message refused before its step (no device, a
 * parameter refused, a run of another cell, a malformed `msg.workcell` that still names a run)
 * must not leave its run waiting forever. A run that has ended, or an unknown id, is left as it is.
 */
export function failRunOf(msg: NodeMessage, error: unknown, step: string): void {
  const ref = msg.workcell;
  if (ref === null || typeof ref !== 'object') return;
  const runId = (ref as { run?: unknown }).run;
  if (typeof runId !== 'string') return;
  const cellId = cellOfRun(runId);
  if (cellId !== undefined) getCell(cellId)?.getRun(runId)?.fail(error, step);
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
