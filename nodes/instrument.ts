import { INSTRUMENT_OPERATIONS, INSTRUMENT_PRESETS, ScpiInstrumentDevice, type ScpiInstrumentOptions, type ScpiTerminator } from '../lib/devices/instrument';
import { type ConfigOf } from './shared/editor-fields';
import { INSTRUMENT_DEVICE_FIELDS } from './shared/node-fields';
import { registerDeviceKind, type DeviceConnectionSettings } from './shared/device-nodes';
import type { RedAPI, RedNode } from './shared/red';

/** The `workcell-instrument-device` config node's fields, read and checked (editor-fields.ts). */
type InstrumentConfig = ConfigOf<typeof INSTRUMENT_DEVICE_FIELDS>;

const TERMINATORS: Record<InstrumentConfig['terminator'], ScpiTerminator> = { lf: '\n', crlf: '\r\n', cr: '\r' };

/**
 * The driver's options from the node's fields: blank fields take the preset's value. With a
 * connection node, its address, line settings and backoff replace the address and baud rate
 * fields (the terminator stays the instrument's).
 */
function instrumentOptions(config: InstrumentConfig, connection?: DeviceConnectionSettings): ScpiInstrumentOptions {
  return {
    name: config.name,
    ...(connection
      ? { address: connection.address, serial: connection.serial, reconnect: connection.reconnect }
      : { address: config.address, serial: { baudRate: config.baudRate } }),
    terminator: TERMINATORS[config.terminator],
    preset: config.preset,
    measureQuery: config.measureQuery,
    readQuery: config.readQuery,
    outputCommand: config.outputCommand,
    channels: config.channels,
    outputLimits: config.outputLimits,
    errorCheck: config.errorCheck,
    safeCommands: config.safeCommands,
    initCommands: config.initCommands,
    timeoutMs: config.timeout,
    telemetryIntervalMs: config.telemetryInterval,
    telemetry: config.telemetryQueries,
  };
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-instrument-device` (config) and `workcell-instrument` (action): a SCPI instrument
   * on `tcp://host:5025` or a serial port. The config node owns the instrument's connection (one
   * instrument, one link: stop frames and reply matching need it to itself; a `workcell-serial`
   * node named in `serial` supplies the address and line settings and is then the instrument's
   * alone), joins its cell, and
   * relays the driver's warnings to the log. Telemetry, when an interval is set, reaches flows
   * through the cell: every `cell status` node of the cell emits it with `topic: "telemetry"`.
   */
  registerDeviceKind(RED, {
    configType: 'workcell-instrument-device',
    actionType: 'workcell-instrument',
    kind: 'instrument',
    operations: INSTRUMENT_OPERATIONS,
    fields: INSTRUMENT_DEVICE_FIELDS,
    create(config, _node: RedNode, connection) {
      return new ScpiInstrumentDevice(instrumentOptions(config, connection));
    },
  });

  // The editor shows the chosen preset's defaults as placeholders: blank fields take them.
  RED.httpAdmin.get('/workcell/instrument/presets', RED.auth.needsPermission('workcell.read'), (_req, res) => {
    res.json({ presets: Object.values(INSTRUMENT_PRESETS) });
  });
};
