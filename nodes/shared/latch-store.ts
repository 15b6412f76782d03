import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Latched emergency stops that survive a redeploy of the cell's config node and, when Node-RED
 * has a user directory, a restart of Node-RED, a crash or a power loss: nothing moves until an
 * explicit reset. Kept in memory and, with a store configured, in `workcell-latches.json`
 * (`{"<cell id>": ["<trip source>", …]}`), written when a cell enters `aborting` and made
 * durable before the write returns (the file and its folder are fsynced).
 *
 * A store that exists but cannot be read or parsed fails closed: every cell starts latched with
 * the source `latch store unreadable` until it is reset (the unreadable file is kept beside the
 * new one as `workcell-latches.json.unreadable` for inspection).
 */
export const UNREADABLE_SOURCE = 'latch store unreadable';

const latches = new Map<string, string[]>();
let file: string | undefined;
let unreadable = false;
/** Cells reset since the store was found unreadable: they start unlatched again. */
const resetSinceUnreadable = new Set<string>();
let warn: (message: string) => void = () => undefined;

/**
 * Keep latches in `<dir>/workcell-latches.json` (Node-RED's user directory) and load the ones
 * already there. Without a directory they live in memory only. Configuring the same file again
 * (every cell node does) keeps what is in memory.
 */
export function configureLatchStore(dir: string | undefined, onWarning: (message: string) => void): void {
  warn = onWarning;
  const next = dir ? join(dir, 'workcell-latches.json') : undefined;
  if (next === file) return;
  file = next;
  if (!file || !existsSync(file)) return;
  try {
    const stored: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) throw new Error('not an object of cell ids');
    for (const [id, sources] of Object.entries(stored)) {
      if (!Array.isArray(sources) || !sources.every((x) => typeof x === 'string')) throw new Error(`the entry of cell ${id} is not a list of trip sources`);
      if (!latches.has(id)) latches.set(id, sources as string[]);
    }
  } catch (err) {
    unreadable = true;
    warn(`workcell: the latched emergency stops in ${file} could not be read (${(err as Error).message}); every cell starts latched ("${UNREADABLE_SOURCE}") until it is reset`);
    try {
      renameSync(file, `${file}.unreadable`);
    } catch {
      // Kept in place: it is overwritten at the next change, and every cell stays latched meanwhile.
    }
  }
}

/** The trip sources a cell (config node id) starts latched with, or undefined. */
export function getLatch(cellId: string): string[] | undefined {
  const known = latches.get(cellId);
  if (known) return known;
  if (unreadable && !resetSinceUnreadable.has(cellId)) {
    setLatch(cellId, [UNREADABLE_SOURCE]);
    return latches.get(cellId);
  }
  return undefined;
}

/** Remember (or forget, with null: a reset) a cell's latched trip sources; stored durably at once. */
export function setLatch(cellId: string, sources: string[] | null): void {
  const had = latches.has(cellId);
  if (sources) latches.set(cellId, [...sources]);
  else {
    latches.delete(cellId);
    if (unreadable) resetSinceUnreadable.add(cellId);
  }
  if (file && (sources || had)) write(file);
}

/** Write the latches to `target` through a temporary file, fsyncing it and its folder. */
function write(target: string): void {
  const tmp = `${target}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(Object.fromEntries(latches), null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
    const dirFd = openSync(dirname(target), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (err) {
    warn(`workcell: could not store the latched emergency stops in ${target}: ${(err as Error).message}`);
  }
}

/** Forget every latch and the store (a fresh process): for test isolation. */
export function forgetLatches(): void {
  latches.clear();
  resetSinceUnreadable.clear();
  unreadable = false;
  file = undefined;
}
