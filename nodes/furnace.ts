import { FURNACE_OPERATIONS, FurnaceDevice, type FurnaceOptions } from '../lib/devices/furnace';
import type { ModbusBusLink } from '../lib/io/modbus/modbus-unit';
import { type ConfigOf } from './shared/editor-fields';
import { FURNACE_DEVICE_FIELDS } from './shared/furnace-fields';
import { modbusBusOf } from './shared/modbus-bus-node';
import { modbusBusKey } from './shared/modbus-bus-key';
import { registerDeviceKind } from './shared/device-nodes';
import type { RedAPI } from './shared/red';

/** The `workcell-furnace-device` config node's fields, read and checked (editor-fields.ts). */
type FurnaceConfig = ConfigOf<typeof FURNACE_DEVICE_FIELDS>;

/** The driver's options from the node's fields; the generic map's fields only with the generic preset. */
function furnaceOptions(config: FurnaceConfig, bus: ModbusBusLink): FurnaceOptions {
  const generic = config.preset === 'generic';
  return {
    name: config.name,
    bus,
    unitId: config.unitId,
    preset: config.preset,
    unit: config.unit,
    minSetpoint: config.minSetpoint,
    maxSetpoint: config.maxSetpoint,
    maxRampRate: config.maxRampRate,
    safeSetpoint: config.safeSetpoint,
    telemetryIntervalMs: config.telemetryInterval,
    timeoutMs: config.timeout,
    map: generic
      ? {
          format: config.format,
          wordOrder: config.wordOrder,
          temperatureScale: config.scale,
          outputScale: config.scale,
          temperatureUnit: config.controllerUnit,
          pv: config.pvRegister,
          setpoint: config.setpointRegister,
          output: config.outputRegister,
          manualOutput: config.manualOutputRegister,
          mode: { address: config.modeRegister, auto: 0, manual: 1 },
          run: { kind: 'register', address: config.runRegister, run: 1, stop: 0 },
          sensorBreak: { kind: 'status-bit', address: config.statusRegister, bit: config.sensorBreakBit },
        }
      : undefined,
  };
}

export = function (RED: RedAPI): void {
  const getNode = (id: string) => RED.nodes.getNode(id);

  /**
   * `workcell-furnace-device` (config) and `workcell-furnace` (action): a furnace temperature
   * controller (Eurotherm 3216, Watlow EZ-ZONE PM, Omega CN7500 or a generic map) as unit
   * `unitId` on the Modbus bus of a `workcell-modbus` node. The bus is shared: the device
   * acquires it when it opens and releases it when it closes. Telemetry reaches flows through
   * the cell (`cell status` nodes, `topic: "telemetry"`) and shows in the action nodes' status.
   */
  registerDeviceKind(RED, {
    configType: 'workcell-furnace-device',
    actionType: 'workcell-furnace',
    kind: 'furnace',
    operations: FURNACE_OPERATIONS,
    fields: FURNACE_DEVICE_FIELDS,
    // A deploy keeps the driver only while its bus is the same one.
    connectionKey: (config) => modbusBusKey(getNode, config.bus),
    create(config) {
      return new FurnaceDevice(furnaceOptions(config, modbusBusOf(getNode, config.bus, config.name)));
    },
  });
};
