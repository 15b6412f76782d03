import {
  INSTRUMENT_OPERATIONS, INSTRUMENT_PRESETS, ScpiInstrumentDevice, instrumentPreset, parseTelemetryQueries, type ScpiTerminator,
} from '../lib/devices/instrument';
import { registerDeviceKind, type DeviceConfigDef, type DeviceConnectionSettings } from './shared/device-nodes';
import type { RedAPI, RedNode } from './shared/red';

/** The `workcell-instrument-device` config node's properties, as the editor saves them (strings). */
interface InstrumentConfigDef extends DeviceConfigDef {
  address?: string;
  baudRate?: string | number;
  terminator?: 'lf' | 'crlf' | 'cr';
  preset?: string;
  measureQuery?: string;
  readQuery?: string;
  outputCommand?: string;
  channels?: string | number;
  errorCheck?: boolean;
  safeCommands?: string;
  initCommands?: string;
  timeout?: string | number;
  telemetryInterval?: string | number;
  telemetryQueries?: string;
}

const TERMINATORS: Record<string, ScpiTerminator> = { lf: '\n', crlf: '\r\n', cr: '\r' };

/** A positive number from an editor field, or the fallback when the field is blank or not a number. */
function numberOr(value: unknown, fallback: number): number {
  const n = Number(value);
  return value === undefined || value === '' || !Number.isFinite(n) ? fallback : n;
}

/** One command per line, blank lines dropped; undefined when the field is blank (the preset's default applies). */
function lines(text: unknown): string[] | undefined {
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  return text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}

/**
 * The editor's configuration, typed and defaulted once at the edge (mqtt.js's lesson): blank
 * fields take the preset's value; a bad value throws a sentence naming the device and the field.
 * With a connection node, its address, line settings and backoff replace the address and baud
 * rate fields (the terminator stays the instrument's).
 */
function instrumentOptionsFromDef(def: InstrumentConfigDef, connection?: DeviceConnectionSettings) {
  const name = def.name || `instrument ${def.id}`;
  const preset = instrumentPreset(def.preset || 'generic');
  const channels = def.channels === undefined || def.channels === '' ? undefined : Number(def.channels);
  let telemetry;
  try {
    telemetry = def.telemetryQueries && def.telemetryQueries.trim() ? parseTelemetryQueries(def.telemetryQueries) : undefined;
  } catch (err) {
    throw new RangeError(`${name}: ${(err as Error).message}`);
  }
  return {
    name,
    ...(connection
      ? { address: connection.address, serial: connection.serial, reconnect: connection.reconnect }
      : { address: String(def.address ?? '').trim(), serial: { baudRate: numberOr(def.baudRate, 9600) } }),
    terminator: TERMINATORS[def.terminator ?? 'lf'] ?? '\n',
    preset: preset.id,
    measureQuery: def.measureQuery?.trim() || undefined,
    readQuery: def.readQuery?.trim() || undefined,
    outputCommand: def.outputCommand === undefined || def.outputCommand.trim() === '' ? undefined : def.outputCommand.trim(),
    channels,
    errorCheck: def.errorCheck !== false,
    safeCommands: lines(def.safeCommands),
    initCommands: lines(def.initCommands),
    timeoutMs: Math.max(1, numberOr(def.timeout, 5) * 1000),
    telemetryIntervalMs: Math.max(0, numberOr(def.telemetryInterval, 0) * 1000),
    telemetry,
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
  registerDeviceKind<InstrumentConfigDef>(RED, {
    configType: 'workcell-instrument-device',
    actionType: 'workcell-instrument',
    kind: 'instrument',
    operations: INSTRUMENT_OPERATIONS,
    create(def: InstrumentConfigDef, node: RedNode, connection) {
      const device = new ScpiInstrumentDevice(instrumentOptionsFromDef(def, connection));
      device.on('warning', (text: string) => node.warn(text));
      return device;
    },
  });

  // The editor shows the chosen preset's defaults as placeholders: blank fields take them.
  RED.httpAdmin.get('/workcell/instrument/presets', RED.auth.needsPermission('workcell.read'), (_req, res) => {
    res.json({ presets: Object.values(INSTRUMENT_PRESETS) });
  });
};
