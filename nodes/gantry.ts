import { GANTRY_OPERATIONS, GrblGantry, type GrblGantryOptions, type SoftLimits } from '../lib/devices/gantry';
import { registerDeviceKind, type DeviceConfigDef, type DeviceConnectionSettings } from './shared/device-nodes';
import type { RedAPI, RedNode } from './shared/red';

/** The `workcell-gantry-device` config node's properties, as the editor saves them (strings). */
interface GantryConfigDef extends DeviceConfigDef {
  address?: string;
  baudRate?: string | number;
  pollInterval?: string | number;
  xMin?: string | number;
  xMax?: string | number;
  yMin?: string | number;
  yMax?: string | number;
  zMin?: string | number;
  zMax?: string | number;
  allowUnlock?: boolean;
  safeSpindleOff?: boolean;
  safeCoolantOff?: boolean;
  estopHold?: string | number;
  cancelHold?: string | number;
  programDir?: string;
}

/** A number from an editor field, undefined when blank; a non-number throws a sentence naming the field. */
function optionalNumber(name: string, field: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new RangeError(`${name}: ${field} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

/**
 * The editor's configuration, typed and defaulted once at the edge: an axis is limited only
 * when both its min and max are given (one without the other is a mistake, said so). With a
 * connection node, its address, line settings and backoff replace the address and baud rate fields.
 */
function gantryOptionsFromDef(def: GantryConfigDef, connection?: DeviceConnectionSettings): GrblGantryOptions {
  const name = def.name || `gantry ${def.id}`;
  const softLimits: SoftLimits = {};
  for (const axis of ['x', 'y', 'z'] as const) {
    const min = optionalNumber(name, `${axis.toUpperCase()} min`, def[`${axis}Min`]);
    const max = optionalNumber(name, `${axis.toUpperCase()} max`, def[`${axis}Max`]);
    if (min === undefined && max === undefined) continue;
    if (min === undefined || max === undefined) throw new RangeError(`${name}: the soft limit of ${axis.toUpperCase()} needs both min and max (or neither)`);
    softLimits[axis] = { min, max };
  }
  return {
    name,
    ...(connection
      ? { address: connection.address, serial: connection.serial, reconnect: connection.reconnect }
      : { address: String(def.address ?? '').trim(), serial: { baudRate: optionalNumber(name, 'baud rate', def.baudRate) ?? 115200 } }),
    softLimits,
    pollIntervalMs: optionalNumber(name, 'status poll period', def.pollInterval) ?? 200,
    allowUnlock: def.allowUnlock === true,
    safeState: { spindleOff: def.safeSpindleOff !== false, coolantOff: def.safeCoolantOff !== false },
    estopHoldMs: optionalNumber(name, 'emergency-stop hold', def.estopHold) ?? 0,
    cancelHoldMs: optionalNumber(name, 'cancel hold', def.cancelHold) ?? 2000,
    programDir: def.programDir?.trim() || undefined,
  };
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-gantry-device` (config) and `workcell-gantry` (action): a GRBL 1.1 / grblHAL
   * controller on a serial port or `tcp://host:port`. The config node owns the controller's
   * connection: GRBL's character counting accounts for every byte in its receive buffer and its
   * real-time bytes act at once, so the link cannot be shared with another node. The address may
   * come from a `workcell-serial` node (`serial`), which the gantry then owns exclusively; it
   * still builds its own GRBL connection from that node's settings. It joins its cell and relays
   * the driver's warnings to the log.
   */
  registerDeviceKind<GantryConfigDef>(RED, {
    configType: 'workcell-gantry-device',
    actionType: 'workcell-gantry',
    kind: 'gantry',
    operations: GANTRY_OPERATIONS,
    create(def: GantryConfigDef, node: RedNode, connection) {
      const device = new GrblGantry(gantryOptionsFromDef(def, connection));
      device.on('warning', (text: string) => node.warn(text));
      return device;
    },
  });
};
