import { ACTUATOR_OPERATIONS, ActuatorDevice, type ActuatorDeviceOptions } from '../lib/devices/actuator';
import type { ModbusBusLink } from '../lib/io/modbus/modbus-unit';
import { type ConfigOf } from './shared/editor-fields';
import { ACTUATOR_DEVICE_FIELDS } from './shared/press-fields';
import { modbusBusOf } from './shared/modbus-bus-node';
import { modbusBusKey } from './shared/modbus-bus-key';
import { registerDeviceKind } from './shared/device-nodes';
import type { RedAPI } from './shared/red';

/** The `workcell-actuator-device` config node's fields, read and checked (editor-fields.ts). */
type ActuatorConfig = ConfigOf<typeof ACTUATOR_DEVICE_FIELDS>;

/** The driver's options from the node's fields; the retract coil only for a double-solenoid valve. */
function actuatorOptions(config: ActuatorConfig, bus: ModbusBusLink): ActuatorDeviceOptions {
  return {
    name: config.name,
    bus,
    unitId: config.unitId,
    valve: config.valve,
    extendCoil: config.extendCoil,
    retractCoil: config.valve === 'double' ? config.retractCoil : undefined,
    extendedInput: config.extendedInput,
    retractedInput: config.retractedInput,
    travelTimeoutMs: config.travelTimeout,
    pollIntervalMs: config.pollInterval,
    safeState: config.safeState,
    requestTimeoutMs: config.timeout,
  };
}

export = function (RED: RedAPI): void {
  const getNode = (id: string) => RED.nodes.getNode(id);

  /**
   * `workcell-actuator-device` (config) and `workcell-actuator` (action): a pneumatic cylinder
   * or gripper on a Modbus I/O module, unit `unitId` on the bus of a `workcell-modbus` node.
   */
  registerDeviceKind(RED, {
    configType: 'workcell-actuator-device',
    actionType: 'workcell-actuator',
    kind: 'actuator',
    operations: ACTUATOR_OPERATIONS,
    fields: ACTUATOR_DEVICE_FIELDS,
    connectionKey: (config) => modbusBusKey(getNode, config.bus),
    create(config) {
      return new ActuatorDevice(actuatorOptions(config, modbusBusOf(getNode, config.bus, config.name)));
    },
  });
};
