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
interface Parked<T> {
  item: T;
  digest: string;
  /** Closes it for good (its connection, then the line's claim). */
  close: () => Promise<void>;
  timer: NodeJS.Timeout;
  /** Stops watching the cell a driver left. */
  unwatch: () => void;
}

/** Things kept across a deploy by their config node's id: park, adopt or release each. */
class ParkingLot<T> {
  private readonly parked = new Map<string, Parked<T>>();

  /** Park `item` under `id` (closing whatever was parked there); released after `boundMs` unless adopted. */
  park(id: string, entry: { item: T; digest: string; close: () => Promise<void>; unwatch?: () => void }, boundMs: number): void {
    void this.release(id);
    const timer = setTimeout(() => void this.release(id), boundMs);
    timer.unref();
    this.parked.set(id, { item: entry.item, digest: entry.digest, close: entry.close, timer, unwatch: entry.unwatch ?? (() => undefined) });
  }

  /** Take the entry under `id` out, if it is still `item`'s (a cell trip stopping a parked driver). */
  take(id: string, item: T): Parked<T> | undefined {
    const entry = this.parked.get(id);
    if (entry?.item !== item) return undefined;
    this.forget(id, entry);
    return entry;
  }

  /** The item parked under `id` when its digest is `digest`; otherwise it is closed, and `closing` resolves once it is. */
  adopt(id: string, digest: string): { item?: T; closing: Promise<void> } {
    const entry = this.parked.get(id);
    if (!entry) return { closing: Promise.resolve() };
    this.forget(id, entry);
    if (entry.digest === digest) return { item: entry.item, closing: Promise.resolve() };
    return { closing: entry.close().catch(() => undefined) };
  }

  /** Close the item parked under `id`, if any. */
  release(id: string): Promise<void> {
    const entry = this.parked.get(id);
    if (!entry) return Promise.resolve();
    this.forget(id, entry);
    return entry.close().catch(() => undefined);
  }

  /** Close everything parked. */
  releaseAll(): Promise<void[]> {
    return Promise.all([...this.parked.keys()].map((id) => this.release(id)));
  }

  private forget(id: string, entry: Parked<T>): void {
    this.parked.delete(id);
    clearTimeout(entry.timer);
    entry.unwatch();
  }
}

const drivers = new ParkingLot<Device>();
/** Modbus buses kept across a deploy, by their `workcell-modbus` node's id (see `parkBus`). */
const buses = new ParkingLot<ModbusBusLink>();
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
  const { device, cell } = entry;
  const onState = (change: { to: string; source?: string }) => {
    if (change.to !== 'aborting') return;
    const mine = drivers.take(id, device);
    if (!mine) return;
    void device.stop(new EStop(change.source ?? `cell "${cell!.name}" tripped`)).catch(() => undefined).finally(() => mine.close().catch(() => undefined));
  };
  cell?.on('state', onState);
  drivers.park(id, { item: device, digest: entry.digest, close: entry.close, unwatch: () => cell?.off('state', onState) }, boundMs);
}

/**
 * The driver parked under `id`, for the node that replaces it: when its digest is `digest` it
 * is taken out of the registry and returned (`device`); otherwise it is closed, and `closing`
 * resolves once it is (open the new driver after that: a serial port admits one owner).
 */
export function adoptDevice(id: string, digest: string): { device?: Device; closing: Promise<void> } {
  const { item, closing } = drivers.adopt(id, digest);
  return { device: item, closing };
}

/** Closes the driver parked under `id`, if any (its node did not come back, or came back refusing). */
export function release(id: string): Promise<void> {
  return drivers.release(id);
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
  buses.park(id, { item: entry.bus, digest: entry.digest, close: entry.close }, boundMs);
}

/** The bus parked under `id` when its digest is `digest` (see `adoptDevice`); otherwise it is closed first. */
export function adoptBus(id: string, digest: string): { bus?: ModbusBusLink; closing: Promise<void> } {
  const { item, closing } = buses.adopt(id, digest);
  return { bus: item, closing };
}

/** Closes the bus parked under `id`, if any. */
export function releaseBus(id: string): Promise<void> {
  return buses.release(id);
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
    void drivers.releaseAll().then(() => buses.releaseAll());
  });
}
