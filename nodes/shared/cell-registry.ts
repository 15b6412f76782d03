import { EventEmitter } from 'node:events';
import { AbortContext, RunResult, Watchdog, WorkcellError } from '../../lib';

export { forgetLatches } from './latch-store';

/**
 * The live cells of this Node-RED process, by config node id, and a bounded memory of ended
 * runs. Runs are referenced from messages by id only (messages are cloned, split, joined and
 * sent through link nodes), so a node that receives a run id needs to tell "this run ended
 * (and how)" from "this run belongs to another cell" from "no such run".
 */
const cells = new Map<string, AbortContext>();
const policies = new Map<string, RedeployPolicy>();

/**
 * What a redeploy that closes a sequence node does to its runs: `stop-affected` (default)
 * ends them as aborted and brings the devices they own safe; `estop-cell` trips the whole cell.
 */
export type RedeployPolicy = 'stop-affected' | 'estop-cell';
const ended = new Map<string, { cell: string; result: RunResult }>();
const ENDED_MEMORY = 2000;

export function registerCell(id: string, cell: AbortContext, redeploy: RedeployPolicy = 'stop-affected'): void {
  cells.set(id, cell);
  policies.set(id, redeploy);
  cell.on('run-end', rememberEnded.bind(null, id));
  registryEvents.emit('registered', id, cell);
}

/**
 * Announces cells as they come and go (`'registered'` and `'unregistered'`, each with the
 * config node id and the cell), for what watches every cell of the process (the editor's
 * Workcell sidebar) without being one of a cell's nodes.
 */
export const registryEvents = new EventEmitter();

/** Every live cell of this process with its config node id, in the order they started. */
export function liveCells(): [string, AbortContext][] {
  return [...cells];
}

/**
 * The ids of the remembered ended runs in the order they ended, as a ring: the slot a new run
 * takes holds the oldest, which is forgotten (no iterator per run to find it).
 */
const endedOrder: (string | undefined)[] = new Array<string | undefined>(ENDED_MEMORY).fill(undefined);
let endedNext = 0;

function rememberEnded(cellId: string, result: RunResult): void {
  const oldest = endedOrder[endedNext];
  if (oldest !== undefined) ended.delete(oldest);
  endedOrder[endedNext] = result.run;
  endedNext = endedNext + 1 === ENDED_MEMORY ? 0 : endedNext + 1;
  ended.set(result.run, { cell: cellId, result });
}

export function unregisterCell(id: string, cell: AbortContext): void {
  if (cells.get(id) !== cell) return;
  cells.delete(id);
  registryEvents.emit('unregistered', id, cell);
}

export function redeployPolicy(id: string): RedeployPolicy {
  return policies.get(id) ?? 'stop-affected';
}

export function getCell(id: string): AbortContext | undefined {
  return cells.get(id);
}

/** Why a deployed cell did not start (its configuration is invalid), by config node id. */
const failedCells = new Map<string, string>();

/** Record (or, with undefined, forget) why the cell with this id did not start. */
export function setCellFailure(id: string, why: string | undefined): void {
  if (why === undefined) failedCells.delete(id);
  else failedCells.set(id, why);
}

/** Why the cell with this id did not start, when it was deployed but did not. */
export function cellFailure(id: string): string | undefined {
  return failedCells.get(id);
}

/** Show on a node, at deploy, that its cell did not start (the node refuses every message). */
export function showCellFailure(node: { status(status: { fill: 'red'; shape: 'ring'; text: string }): void }, cellId: string): void {
  if (failedCells.has(cellId)) node.status({ fill: 'red', shape: 'ring', text: 'cell did not start' });
}

/**
 * The refusal of a node whose cell is not running, naming why when the cell was deployed but did
 * not start: nothing runs or moves without its cell.
 */
export function noCellError(where: string, cellId: string, operation = where): WorkcellError {
  const why = failedCells.get(cellId);
  const message = why
    ? `${where}: refused: its cell did not start: ${why}`
    : `${where}: no abort context (cell) is configured for this node, or it failed to start`;
  return new WorkcellError('no-cell', message, { operation });
}

/** Which live cell (config node id) a run in progress belongs to. */
export function cellOfRun(runId: string): string | undefined {
  for (const [id, cell] of cells) if (cell.getRun(runId)) return id;
  return undefined;
}

/** The result of a run that has ended, if still remembered. */
export function endedRun(runId: string): { cell: string; result: RunResult } | undefined {
  return ended.get(runId);
}

const watchdogs = new Map<string, Watchdog>();

/** The dead-man watchdog of a cell (config node id), if its heartbeat is configured. */
export function setWatchdog(cellId: string, watchdog: Watchdog | undefined): void {
  if (watchdog) watchdogs.set(cellId, watchdog);
  else watchdogs.delete(cellId);
}

export function getWatchdog(cellId: string): Watchdog | undefined {
  return watchdogs.get(cellId);
}
