import { resolve } from 'node:path';
import type { LineConnection } from '../../io/line-connection';
import type { GrblLinkOptions } from './grbl-link';
import { readSoftLimits, type SoftLimits } from './soft-limits';

/** Settings of one GRBL gantry, as given; `resolveGantryOptions` types and defaults them, once. */
export interface GrblGantryOptions extends GrblLinkOptions {
  /** The device's name in the cell and in every message (`Mill`, `Laser`). */
  name: string;
  /** A serial device path or `tcp://host:port` (ser2net, an ESP32 bridge); ignored when `connection` is given. */
  address?: string;
  /** A connection to use instead of one made from `address`; the driver owns it (opens, closes). Use `gantryConnection()`. */
  connection?: LineConnection;
  /** Checked before anything is sent. */
  softLimits?: SoftLimits;
  /** Status poll period (`?`), ms. Default 200 (GRBL recommends at most 5 Hz). */
  pollIntervalMs?: number;
  /** Let `unlock` and a cell reset clear an alarm with `$X` (the position stays untrusted). Default false. */
  allowUnlock?: boolean;
  /** What `safe()` switches off. Default: both. */
  safeState?: { spindleOff?: boolean; coolantOff?: boolean };
  /**
   * Emergency stop: how long to let the feed hold decelerate before the soft reset, ms. 0 (the
   * default) resets at once: motion stops now and the position is lost (ALARM:3). With a bound,
   * a machine that comes to rest in time keeps its position (GRBL raises no alarm then). It is
   * the most of the device's `stopBoundMs` (with GRBL's 500 ms alarm pause): a cell refuses a
   * hold whose bound is not well below its stop timeout.
   */
  estopHoldMs?: number;
  /** A cancelled step: the same, but by default a controlled stop that keeps the position. Default 2000. */
  cancelHoldMs?: number;
  /** Folder `program` files are read from; without it, programs only come from the message. */
  programDir?: string;
  ownership?: 'wait' | 'fail-fast';
  critical?: boolean;
}

/** A gantry's settings with every default applied and every value checked. */
export interface GantrySettings {
  softLimits: SoftLimits;
  pollIntervalMs: number;
  allowUnlock: boolean;
  safeState: { spindleOff: boolean; coolantOff: boolean };
  estopHoldMs: number;
  cancelHoldMs: number;
  replyTimeoutMs: number;
  /** Absolute, or undefined when program files are not enabled. */
  programDir: string | undefined;
}

/**
 * The settings of `options` with their defaults, checked: a RangeError names the device, the
 * setting and the value (a soft limit without a finite min below its max, a poll period outside
 * 20 ms to 60 s, a hold outside 0 to 60000 ms, a reply timeout of 0 or less).
 */
export function resolveGantryOptions(options: GrblGantryOptions): GantrySettings {
  const name = options.name;
  const settings: GantrySettings = {
    softLimits: readSoftLimits(name, options.softLimits),
    pollIntervalMs: options.pollIntervalMs ?? 200,
    allowUnlock: options.allowUnlock ?? false,
    safeState: { spindleOff: options.safeState?.spindleOff ?? true, coolantOff: options.safeState?.coolantOff ?? true },
    estopHoldMs: options.estopHoldMs ?? 0,
    cancelHoldMs: options.cancelHoldMs ?? 2000,
    replyTimeoutMs: options.replyTimeoutMs ?? 10_000,
    programDir: options.programDir ? resolve(options.programDir) : undefined,
  };
  const poll = settings.pollIntervalMs;
  if (!(poll >= 20 && poll <= 60_000)) throw new RangeError(`${name}: the status poll period must be 20 ms to 60 s, got ${poll}`);
  for (const [what, v] of [['emergency-stop hold', settings.estopHoldMs], ['cancel hold', settings.cancelHoldMs]] as const) {
    if (!(v >= 0 && v <= 60_000)) throw new RangeError(`${name}: the ${what} must be 0 to 60000 ms, got ${v}`);
  }
  if (!(settings.replyTimeoutMs > 0)) throw new RangeError(`${name}: the reply timeout must be more than 0 ms, got ${settings.replyTimeoutMs}`);
  return settings;
}
