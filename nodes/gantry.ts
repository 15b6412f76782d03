import { GANTRY_OPERATIONS, GrblGantry, type GrblGantryOptions, type SoftLimits } from '../lib/devices/gantry';
import { type ConfigOf } from './shared/editor-fields';
import { GANTRY_DEVICE_FIELDS } from './shared/node-fields';
import { registerDeviceKind, type DeviceConnectionSettings } from './shared/device-nodes';
import type { RedAPI, RedNode } from './shared/red';

/** The `workcell-gantry-device` config node's fields, read and checked (editor-fields.ts). */
type GantryConfig = ConfigOf<typeof GANTRY_DEVICE_FIELDS>;

/**
 * The driver's options from the node's fields: an axis is limited when both its min and max are
 * given (the fields' check refuses one without the other). With a connection node, its address,
 * line settings and backoff replace the address and baud rate fields.
 */
function gantryOptions(config: GantryConfig, connection?: DeviceConnectionSettings): GrblGantryOptions {
  const softLimits: SoftLimits = {};
  for (const axis of ['x', 'y', 'z'] as const) {
    const min = config[`${axis}Min`];
    const max = config[`${axis}Max`];
    if (min !== undefined && max !== undefined) softLimits[axis] = { min, max };
  }
  return {
    name: config.name,
    ...(connection
      ? { address: connection.address, serial: connection.serial, reconnect: connection.reconnect }
      : { address: config.address, serial: { baudRate: config.baudRate } }),
    softLimits,
    pollIntervalMs: config.pollInterval,
    allowUnlock: config.allowUnlock,
    safeState: { spindleOff: config.safeSpindleOff, coolantOff: config.safeCoolantOff },
    estopHoldMs: config.estopHold,
    cancelHoldMs: config.cancelHold,
    programDir: config.programDir || undefined,
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
  registerDeviceKind(RED, {
    configType: 'workcell-gantry-device',
    actionType: 'workcell-gantry',
    kind: 'gantry',
    operations: GANTRY_OPERATIONS,
    fields: GANTRY_DEVICE_FIELDS,
    create(config, _node: RedNode, connection) {
      return new GrblGantry(gantryOptions(config, connection));
    },
  });
};
