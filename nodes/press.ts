import { PRESS_OPERATIONS, PressDevice, type PressDeviceOptions, type PressInterlock } from '../lib/devices/press';
import type { ModbusBusLink } from '../lib/io/modbus/modbus-unit';
import { type ConfigOf } from './shared/editor-fields';
import { PRESS_DEVICE_FIELDS } from './shared/press-fields';
import { modbusBusOf } from './shared/modbus-bus-node';
import { modbusBusKey } from './shared/modbus-bus-key';
import { registerDeviceKind } from './shared/device-nodes';
import type { RedAPI } from './shared/red';

/** The `workcell-press-device` config node's fields, read and checked (editor-fields.ts). */
type PressConfig = ConfigOf<typeof PRESS_DEVICE_FIELDS>;

/** The driver's options from the node's fields. */
function pressOptions(config: PressConfig, bus: ModbusBusLink): PressDeviceOptions {
  const interlocks = (['guard', 'lightCurtain', 'twoHand'] as const).filter((i): i is PressInterlock => config[i]);
  return {
    name: config.name,
    bus,
    unitId: config.unitId,
    interlocks,
    limits: { maxForceKn: config.maxForce, maxCurrentKa: config.maxCurrent, maxWeldTimeMs: config.maxWeldTime, minPositionMm: config.minPosition, maxPositionMm: config.maxPosition },
    map: config.map,
    watchIntervalMs: config.watchInterval,
    cycleTimeoutMs: config.cycleTimeout,
    retractTimeoutMs: config.retractTimeout,
    requestTimeoutMs: config.timeout,
    telemetryIntervalMs: config.telemetryInterval,
  };
}

export = function (RED: RedAPI): void {
  const getNode = (id: string) => RED.nodes.getNode(id);

  /**
   * `workcell-press-device` (config) and `workcell-press` (action): a hydraulic press or spot
   * welder PLC as unit `unitId` on the Modbus bus of a `workcell-modbus` node (shared: the
   * device acquires the bus when it opens and releases it when it closes). Telemetry, when a
   * period is set, reaches flows through the cell (`cell status` nodes, `topic: "telemetry"`).
   */
  registerDeviceKind(RED, {
    configType: 'workcell-press-device',
    actionType: 'workcell-press',
    kind: 'press',
    operations: PRESS_OPERATIONS,
    fields: PRESS_DEVICE_FIELDS,
    connectionKey: (config) => modbusBusKey(getNode, config.bus),
    create(config) {
      return new PressDevice(pressOptions(config, modbusBusOf(getNode, config.bus, config.name)));
    },
  });
};
