import { createHash } from 'node:crypto';
import { EStop, type AbortContext } from '../../lib';
import type { Device } from '../../lib/device';
import type { ModbusBusLink } from '../../lib/io/modbus/modbus-unit';
import type { RedAPI } from './red';

/**
 * Drivers kept connected across a deploy. When a device config node closes for a deploy (not
 * removed) with its device idle, owned by no run and owing no stop, the node parks the
 * connected driver here under its id and a digest of its configuration; the node that replaces
 * it adopts the driver when its digest is the same (the connection, and what the controller
 * knows, such as GRBL's homing, carry over), and otherwise the parked driver is closed before
 * the new one opens. A driver no node adopted is closed once the new flows have started, or at
 * the latest after a bound (a deploy whose flows do not start). While parked a driver is in no
 * cell and no node can reach it: it is idle. If the cell it left trips meanwhile, it gets its
 * stop and is closed.
 */

/** A parked driver (or bus) and how to let it go. */
interface Parked<T = Device> {
  device: T;
  digest: string;
  /** Closes the driver for good (its connection, then the line's claim). */
  close: () => Promise<void>;
  timer: NodeJS.Timeout;
  /** Stops watching the cell the driver left. */
  unwatch: () => void;
}

const parked = new Map<string, Parked>();
/** Modbus buses kept across a deploy, by their `workcell-modbus` node's id (see `parkBus`). */
const parkedBuses = new Map<string, Parked<ModbusBusLink>>();
const hooked = new WeakSet<object>();

/**
 * A digest of what a device config node was built from: its type, its configuration as read,
 * the connection settings it took from a connection node, and its credentials. Equal digests,
 * equal drivers; the credentials are only ever hashed.
 */
export function configDigest(parts: Record<string, unknown>): string {
  return createHash('sha256').update(stableJson(parts)).digest('hex');
}

/** JSON with object keys in order, so equal values give equal text. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Parks `device` under the config node `id` (see the module comment). Its `cell` (the one it has
 * just left), when given, is watched: if it trips, the device gets the trip's stop and is
 * closed. Unless adopted, it is closed when the new flows have started, or after `boundMs`.
 */
export function parkDevice(RED: RedAPI, id: string, entry: { device: Device; digest: string; close: () => Promise<void>; cell?: AbortContext }, boundMs: number): void {
  hookStarted(RED);
  release(id);
  const { device, cell } = entry;
  const onState = (change: { to: string; source?: string }) => {
    if (change.to !== 'aborting') return;
    const mine = parked.get(id);
    if (mine?.device !== device) return;
    parked.delete(id);
    mine.unwatch();
    clearTimeout(mine.timer);
    void device.stop(new EStop(change.source ?? `cell "${cell!.name}" tripped`)).catch(() => undefined).finally(() => mine.close().catch(() => undefined));
  };
  cell?.on('state', onState);
  const timer = setTimeout(() => release(id), boundMs);
  timer.unref();
  parked.set(id, { device, digest: entry.digest, close: entry.close, timer, unwatch: () => cell?.off('state', onState) });
}

/**
 * The driver parked under `id`, for the node that replaces it: when its digest is `digest` it
 * is taken out of the registry and returned (`device`); otherwise it is closed, and `closing`
 * resolves once it is (open the new driver after that: a serial port admits one owner).
 */
export function adoptDevice(id: string, digest: string): { device?: Device; closing: Promise<void> } {
  const entry = parked.get(id);
  if (!entry) return { closing: Promise.resolve() };
  parked.delete(id);
  clearTimeout(entry.timer);
  entry.unwatch();
  if (entry.digest === digest) return { device: entry.device, closing: Promise.resolve() };
  return { closing: entry.close().catch(() => undefined) };
}

/** Closes the driver parked under `id`, if any (its node did not come back, or came back refusing). */
export function release(id: string): Promise<void> {
  const entry = parked.get(id);
  if (!entry) return Promise.resolve();
  parked.delete(id);
  clearTimeout(entry.timer);
  entry.unwatch();
  return entry.close().catch(() => undefined);
}

/**
 * Parks the bus of the `workcell-modbus` node `id` for a deploy, as `parkDevice` parks a driver:
 * the node that replaces it adopts the bus (`adoptBus`) when its configuration's digest is the
 * same, so the devices on it, whose drivers are parked too, find the same bus and are adopted
 * in turn with their connection; otherwise, or when no node adopts it once the new flows have
 * started (or after `boundMs`), the bus is closed.
 */
export function parkBus(RED: RedAPI, id: string, entry: { bus: ModbusBusLink; digest: string; close: () => Promise<void> }, boundMs: number): void {
  hookStarted(RED);
  void releaseBus(id);
  const timer = setTimeout(() => void releaseBus(id), boundMs);
  timer.unref();
  parkedBuses.set(id, { device: entry.bus, digest: entry.digest, close: entry.close, timer, unwatch: () => undefined });
}

/** The bus parked under `id` when its digest is `digest` (see `adoptDevice`); otherwise it is closed first. */
export function adoptBus(id: string, digest: string): { bus?: ModbusBusLink; closing: Promise<void> } {
  const entry = parkedBuses.get(id);
  if (!entry) return { closing: Promise.resolve() };
  parkedBuses.delete(id);
  clearTimeout(entry.timer);
  if (entry.digest === digest) return { bus: entry.device, closing: Promise.resolve() };
  return { closing: entry.close().catch(() => undefined) };
}

/** Closes the bus parked under `id`, if any. */
export function releaseBus(id: string): Promise<void> {
  const entry = parkedBuses.get(id);
  if (!entry) return Promise.resolve();
  parkedBuses.delete(id);
  clearTimeout(entry.timer);
  return entry.close().catch(() => undefined);
}

/**
 * After a deploy has started the new flows, a driver or bus still parked has no node: it is
 * closed (drivers first: each releases the bus it holds).
 */
function hookStarted(RED: RedAPI): void {
  const events = RED.events;
  if (!events || hooked.has(events)) return;
  hooked.add(events);
  events.on('flows:started', () => {
    const drivers = [...parked.keys()].map((id) => release(id));
    void Promise.all(drivers).then(() => {
      for (const id of [...parkedBuses.keys()]) void releaseBus(id);
    });
  });
}
