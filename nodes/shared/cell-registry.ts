import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AbortContext, RunResult, Watchdog } from '../../lib';

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
/**
 * Latched emergency stops survive a redeploy of the cell's config node and, when Node-RED has a
 * user directory, a restart of Node-RED (or a crash or power loss) too: nothing moves until an
 * explicit reset. Kept in memory and, with a store configured, in `workcell-latches.json`.
 */
const latches = new Map<string, string[]>();
let latchFile: string | undefined;

export function registerCell(id: string, cell: AbortContext, redeploy: RedeployPolicy = 'stop-affected'): void {
  cells.set(id, cell);
  policies.set(id, redeploy);
  cell.on('run-end', rememberEnded.bind(null, id));
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
  if (cells.get(id) === cell) cells.delete(id);
}

export function redeployPolicy(id: string): RedeployPolicy {
  return policies.get(id) ?? 'stop-affected';
}

export function getCell(id: string): AbortContext | undefined {
  return cells.get(id);
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

/** Remember (or forget, with null) the trip sources of a cell that was aborted when its node closed. */
export function setLatch(cellId: string, sources: string[] | null): void {
  const had = latches.has(cellId);
  if (sources) latches.set(cellId, sources);
  else latches.delete(cellId);
  if (latchFile && (sources || had)) writeLatches(latchFile);
}

export function getLatch(cellId: string): string[] | undefined {
  return latches.get(cellId);
}

/**
 * Keep latches in `<dir>/workcell-latches.json` (Node-RED's user directory) and load the ones
 * already there. Without a directory they live in memory only. A file that cannot be read is
 * reported and treated as empty; one that cannot be written is reported at each change.
 */
export function configureLatchStore(dir: string | undefined, warn: (message: string) => void): void {
  latchFile = dir ? join(dir, 'workcell-latches.json') : undefined;
  latchWarn = warn;
  if (!latchFile || !existsSync(latchFile)) return;
  try {
    const stored = JSON.parse(readFileSync(latchFile, 'utf8')) as Record<string, unknown>;
    for (const [id, sources] of Object.entries(stored)) {
      if (Array.isArray(sources) && sources.every((x) => typeof x === 'string') && !latches.has(id)) latches.set(id, sources as string[]);
    }
  } catch (err) {
    warn(`workcell: the latched emergency stops in ${latchFile} could not be read (${(err as Error).message}); starting without them`);
  }
}

let latchWarn: (message: string) => void = () => undefined;

function writeLatches(file: string): void {
  try {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(Object.fromEntries(latches), null, 2));
    renameSync(tmp, file);
  } catch (err) {
    latchWarn(`workcell: could not store the latched emergency stops in ${file}: ${(err as Error).message}`);
  }
}

/** Forget every latch (a fresh process): for test isolation. */
export function forgetLatches(): void {
  latches.clear();
  latchFile = undefined;
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
