import { GANTRY_OPERATIONS } from '../../lib/devices/gantry/operations';
import { INSTRUMENT_OPERATIONS } from '../../lib/devices/instrument/operations';
import { INSTRUMENT_PRESETS, parseTelemetryQueries, type TelemetryQuery } from '../../lib/devices/instrument/presets';
import { parseOutputLimits, type OutputLimit } from '../../lib/devices/instrument/output-limits';
import type { OperationTable } from '../../lib/device/operations';
import { WorkcellError, showValue } from '../../lib/errors/workcell-error';
import { MODBUS_FIELDS } from './modbus-fields';
import { deviceFields } from './device-fields';
import { FURNACE_DEVICE_FIELDS } from './furnace-fields';
import { FURNACE_OPERATIONS } from '../../lib/devices/furnace/operations';
import { ACTUATOR_DEVICE_FIELDS, PRESS_DEVICE_FIELDS } from './press-fields';
import { PRESS_OPERATIONS } from '../../lib/devices/press/operations';
import { ACTUATOR_OPERATIONS } from '../../lib/devices/actuator/operations';
import { BetweenFields, EditorField, FieldProblem, FieldTable, FieldValues, SavedNode, choice, commandLines, configNode, fieldTable, flag, milliseconds, nodeRedField, number, onlyWhen, optionalNumber, optionalSeconds, parseNumber, seconds, text } from './editor-fields';

/**
 * The fields of every Workcell node type, read by `readFields`/`configure` (editor-fields.ts).
 * Ranges are the editor's (nodes/*.html); change both together.
 */
/** A duration bound on Node.js timers (about 24.8 days): longer ones would fire at once. */
const MAX_TIMER_S = 2_147_483;
const MAX_DELAY_MS = 24 * 3600 * 1000;

/** An MQTT topic a cell publishes or subscribes to: blank for none; no wildcards (`+`, `#`). */
function topic(label: string): EditorField<string> {
  return text(label, { trim: true }, (t) => {
    if (/[+#\u0000]/.test(t)) throw new FieldProblem('a topic without the wildcards + and #, or blank for none');
    return t;
  });
}

const CELL_TOPICS = ['estopTopic', 'commandTopic', 'replyTopic', 'statusTopic', 'heartbeatTopic'] as const;

export const ABORT_CONTEXT_FIELDS = fieldTable(
  {
    name: text('name'),
    safeTimeout: seconds('safe routine timeout', { min: 0, aboveMin: true, max: 3600, default: 10 }),
    stopTimeout: seconds('stop acknowledgement timeout', { min: 0, aboveMin: true, max: 3600, default: 2 }),
    resetTimeout: seconds('reset timeout', { min: 0, aboveMin: true, max: 3600, default: 10 }),
    redeploy: choice('on redeploy', ['stop-affected', 'estop-cell'], 'stop-affected'),
    heartbeat: seconds('heartbeat period', { min: 0, max: 3600, default: 0, optional: true, note: ' (0 for none)', blankMeans: 'none' }),
    mqtt: configNode('MQTT broker'),
    estopTopic: topic('remote emergency-stop topic'),
    commandTopic: topic('command topic'),
    replyTopic: topic('reply topic'),
    statusTopic: topic('status topic'),
    heartbeatTopic: topic('heartbeat topic'),
    brokerLoss: choice('on broker connection loss', ['warn', 'trip'], 'warn'),
  },
  (v) => {
    const problems: BetweenFields[] = [];
    const named = CELL_TOPICS.filter((k) => v[k] !== '');
    if (!v.mqtt && (named.length || v.brokerLoss === 'trip')) {
      problems.push({ field: 'MQTT broker', sentence: `MQTT topics and "trip on broker loss" need an MQTT broker; none is chosen` });
    }
    if (v.heartbeatTopic && v.heartbeat === 0) {
      problems.push({ field: 'heartbeat period', sentence: `the heartbeat topic "${v.heartbeatTopic}" needs a heartbeat period greater than 0 (the dead-man watchdog it feeds)` });
    }
    return problems;
  },
);

/** The MQTT protocol versions a broker link speaks: 5, or 4 (MQTT 3.1.1). */
export const MQTT_PROTOCOLS = [5, 4] as const;

export const MQTT_FIELDS = fieldTable(
  {
    name: text('name'),
    broker: text('broker URL', { trim: true, editorDefault: 'mqtt://127.0.0.1:1883' }, (t) => {
      // ${NAME}: an environment variable Node-RED substitutes at deploy (the demo's broker).
      if (!/^((mqtts?|wss?):\/\/[^\s/]+\S*|\$\{[^}\s]+\})$/.test(t)) throw new FieldProblem('a broker URL such as mqtt://127.0.0.1:1883 (mqtt, mqtts, ws or wss)');
      return t;
    }),
    clientId: text('client id', { trim: true }),
    protocol: choice('protocol', MQTT_PROTOCOLS, 5),
    keepalive: number('keepalive', { min: 1, max: 65535, integer: true, default: 15, unit: 'seconds' }),
    rejectUnauthorized: flag('verify the broker certificate', true),
    caPath: text('CA certificate file', { trim: true }),
    certPath: text('client certificate file', { trim: true }),
    keyPath: text('client key file', { trim: true }),
    backoffMin: seconds('shortest reconnect delay', { min: 0, max: 3600, default: 0.5 }),
    backoffMax: seconds('longest reconnect delay', { min: 0, max: 3600, default: 15 }),
  },
  (v) =>
    v.backoffMax < v.backoffMin
      ? [{ field: 'longest reconnect delay', sentence: `longest reconnect delay (${v.backoffMax / 1000} s) must not be shorter than the shortest (${v.backoffMin / 1000} s)` }]
      : [],
);

export const SEQUENCE_FIELDS = fieldTable({
  name: text('name'),
  cell: configNode('cell'),
  concurrency: choice('concurrency', ['reject', 'queue', 'cancel-previous'], 'reject'),
  timeout: optionalSeconds('timeout', { min: 0, aboveMin: true, max: MAX_TIMER_S }),
  policy: choice('branch failure policy', ['fail-run', 'report-only'], 'fail-run'),
});

export const SEQUENCE_END_FIELDS = fieldTable({
  name: text('name'),
  cell: configNode('cell'),
  outcome: choice('outcome', ['complete', 'cancel', 'fail'], 'complete'),
});

/** The actions an estop node can be configured with (`clear` names a device: it comes only as `msg.action`). */
export const ESTOP_ACTIONS = ['estop', 'halt', 'reset', 'hold', 'resume', 'cancel', 'heartbeat'] as const;

export const ESTOP_FIELDS = fieldTable({
  name: text('name'),
  cell: configNode('cell'),
  action: choice('action', ESTOP_ACTIONS, 'estop'),
});

/** Which device health changes a cell status node sends (`topic: "device"`). */
export const CELL_STATUS_DEVICE_EVENTS = ['changes', 'all', 'none'] as const;

export const CELL_STATUS_FIELDS = fieldTable({
  name: text('name'),
  cell: configNode('cell'),
  devices: choice('device events', CELL_STATUS_DEVICE_EVENTS, 'changes'),
});

const WAIT_UNIT_MS = { ms: 1, s: 1000, min: 60_000 } as const;
const WAIT_UNIT_NAMES = { ms: 'milliseconds', s: 'seconds', min: 'minutes' } as const;
const WAIT_OPERATORS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'true', 'false'] as const;
const untilMode = (n: SavedNode) => n.mode === 'until';
const comparesValue = (n: SavedNode) => untilMode(n) && n.operator !== 'true' && n.operator !== 'false';

/** The wait's comparison value, typed by its value type (`num`, `str`, `bool`, `json`). */
function comparisonValue(saved: unknown, node: SavedNode): unknown {
  if (saved === undefined) saved = '';
  switch (node.valueType ?? 'num') {
    case 'num': {
      const n = parseNumber(saved);
      if (n === undefined) throw new FieldProblem('a number (the value type is number)');
      return n;
    }
    case 'bool':
      if (saved === true || saved === 'true') return true;
      if (saved === false || saved === 'false') return false;
      throw new FieldProblem('true or false (the value type is boolean)');
    case 'json':
      if (typeof saved !== 'string') throw new FieldProblem('JSON text (the value type is JSON)');
      try {
        return JSON.parse(saved) as unknown;
      } catch (err) {
        throw new FieldProblem(`valid JSON (the value type is JSON: ${(err as Error).message})`);
      }
    default:
      if (typeof saved !== 'string') throw new FieldProblem('text (the value type is string)');
      return saved;
  }
}

export const WAIT_FIELDS = fieldTable({
  name: text('name'),
  cell: configNode('cell'),
  mode: choice('mode', ['delay', 'until'], 'delay'),
  /** Read into milliseconds with the node's units (unchecked in wait-until mode, where it does not apply). */
  delay: onlyWhen((n) => !untilMode(n), {
    label: 'delay',
    editorDefault: 1,
    kind: 'number',
    read(saved: unknown, node: SavedNode): number {
      const unit = typeof node.units === 'string' && node.units in WAIT_UNIT_MS ? (node.units as keyof typeof WAIT_UNIT_MS) : 's';
      const n = parseNumber(saved === undefined ? 1 : saved);
      const max = MAX_DELAY_MS / WAIT_UNIT_MS[unit];
      if (n === undefined || n < 0 || n > max) throw new FieldProblem(`a number of ${WAIT_UNIT_NAMES[unit]} from 0 to ${max} (24 hours)`);
      return n * WAIT_UNIT_MS[unit];
    },
  }),
  units: choice('delay unit', ['ms', 's', 'min'], 's'),
  source: choice('source', ['msg', 'flow', 'global'], 'msg'),
  property: onlyWhen(
    untilMode,
    text('property', { editorDefault: 'payload' }, (t) => {
      if (t.trim() === '') throw new FieldProblem('the name of a property (not blank)');
      return t;
    }),
  ),
  operator: choice('comparison', WAIT_OPERATORS, 'true'),
  /** Typed by the value type; undefined where the comparison takes no value. */
  value: { label: 'comparison value', editorDefault: '', kind: 'text', read: (saved: unknown, node: SavedNode) => (comparesValue(node) ? comparisonValue(saved, node) : undefined) },
  valueType: choice('value type', ['num', 'str', 'bool', 'json'], 'num'),
  topic: text('condition topic', { editorDefault: 'condition' }, (t) => t || 'condition'),
  timeout: optionalSeconds('timeout', { min: 0, aboveMin: true, max: MAX_TIMER_S }),
  onTimeout: choice('on timeout', ['fail', 'output'], 'fail'),
  poll: milliseconds('poll interval', { min: 10, max: MAX_DELAY_MS, default: 100 }),
  outputs: nodeRedField('outputs', 1),
});

export const SERIAL_FIELDS = fieldTable(
  {
    name: text('name'),
    address: text('address', { trim: true }),
    baudRate: number('baud rate', { min: 50, max: 4_000_000, integer: true, default: 115200 }),
    dataBits: choice('data bits', [5, 6, 7, 8], 8),
    parity: choice('parity', ['none', 'even', 'odd', 'mark', 'space'], 'none'),
    stopBits: choice('stop bits', [1, 1.5, 2], 1),
    delimiter: choice('line delimiter', ['lf', 'crlf', 'cr'], 'lf'),
    backoffMin: seconds('shortest reconnect delay', { min: 0, max: 3600, default: 0.5 }),
    backoffMax: seconds('longest reconnect delay', { min: 0, max: 3600, default: 15 }),
  },
  (v) =>
    v.backoffMax < v.backoffMin
      ? [{ field: 'longest reconnect delay', sentence: `longest reconnect delay (${v.backoffMax / 1000} s) must not be shorter than the shortest (${v.backoffMin / 1000} s)` }]
      : [],
);

export { DEVICE_FIELDS, deviceFields, type DeviceSettings } from './device-fields';

/** The address of a device: blank when a connection node supplies it; the editor's is an example. */
const deviceAddress = (example: string) => text('address', { editorDefault: example, absent: '', trim: true });

const softLimit = (axis: string, end: 'min' | 'max') => optionalNumber(`${axis} ${end}`, {});

export const GANTRY_DEVICE_FIELDS = deviceFields(
  {
    address: deviceAddress('/dev/ttyUSB0'),
    baudRate: number('baud rate', { min: 50, max: 4_000_000, integer: true, default: 115200, optional: true }),
    pollInterval: milliseconds('status poll period', { min: 20, max: 60_000, default: 200 }),
    xMin: softLimit('X', 'min'),
    xMax: softLimit('X', 'max'),
    yMin: softLimit('Y', 'min'),
    yMax: softLimit('Y', 'max'),
    zMin: softLimit('Z', 'min'),
    zMax: softLimit('Z', 'max'),
    allowUnlock: flag('allow unlock', false),
    safeSpindleOff: flag('spindle off when safe', true),
    safeCoolantOff: flag('coolant off when safe', true),
    estopHold: milliseconds('emergency-stop hold', { min: 0, max: 60_000, default: 0 }),
    cancelHold: milliseconds('cancel hold', { min: 0, max: 60_000, default: 2000 }),
    programDir: text('program folder', { trim: true }),
  },
  (v) => {
    const problems: BetweenFields[] = [];
    for (const [axis, min, max] of [['X', v.xMin, v.xMax], ['Y', v.yMin, v.yMax], ['Z', v.zMin, v.zMax]] as const) {
      const field = `${axis} soft limit`;
      if ((min === undefined) !== (max === undefined)) problems.push({ field, sentence: `${field} needs both min and max (or neither), got min ${showValue(min)} and max ${showValue(max)}` });
      else if (min !== undefined && max !== undefined && !(min < max)) problems.push({ field, sentence: `${field} needs its min below its max, got min ${min} and max ${max}` });
    }
    return problems;
  },
);

/** A query the instrument answers: blank for the preset's, else it must contain `?`. */
const instrumentQuery = (label: string) =>
  text(label, { trim: true }, (t): string | undefined => {
    if (t === '') return undefined;
    if (!t.includes('?')) throw new FieldProblem("a query (it contains ?), or blank for the preset's");
    return t;
  });

export const INSTRUMENT_DEVICE_FIELDS = deviceFields({
  address: deviceAddress('tcp://192.168.1.20:5025'),
  baudRate: number('baud rate', { min: 50, max: 4_000_000, integer: true, default: 9600, optional: true }),
  terminator: choice('terminator', ['lf', 'crlf', 'cr'], 'lf'),
  // A new node starts with the 34461A selected; a flow without a preset has the generic one.
  preset: choice('preset', Object.keys(INSTRUMENT_PRESETS), 'keysight-34461a', { absent: 'generic' }),
  measureQuery: instrumentQuery('measure query'),
  readQuery: instrumentQuery('read query'),
  outputCommand: text('output command', { trim: true }, (t): string | undefined => t || undefined),
  channels: optionalNumber('channels', { min: 0, max: 16, integer: true }),
  // Blank: the preset's ratings.
  outputLimits: text('output limits', {}, (t): OutputLimit[] | undefined => {
    if (t.trim() === '') return undefined;
    try {
      return parseOutputLimits(t);
    } catch (err) {
      throw new FieldProblem('', (err as Error).message);
    }
  }),
  errorCheck: flag('error check', true),
  timeout: seconds('reply timeout', { min: 0.001, max: 3600, default: 5 }),
  safeCommands: text('safe commands', {}, commandLines),
  initCommands: text('init commands', {}, commandLines),
  telemetryInterval: seconds('telemetry period', { min: 0, max: 86_400, default: 0, note: ' (0 for off)' }),
  telemetryQueries: text('telemetry readings', {}, (t): TelemetryQuery[] | undefined => {
    if (t.trim() === '') return undefined;
    try {
      return parseTelemetryQueries(t);
    } catch (err) {
      throw new FieldProblem('', `telemetry readings: ${(err as Error).message}`);
    }
  }),
});

/**
 * The fields of a device kind's action node: the operation (one of the kind's, or blank when
 * every message names its own in `msg.operation`) and its parameters (an object, or its JSON).
 */
export function deviceActionFields(operations: OperationTable, editorOperation = '') {
  const names = operations.map((o) => o.name);
  return fieldTable({
    name: text('name'),
    device: configNode('device'),
    operation: text('operation', { editorDefault: editorOperation, trim: true }, (t) => {
      if (t !== '' && !names.includes(t)) throw new FieldProblem(`one of ${names.join(', ')} (or blank to take msg.operation)`);
      return t;
    }),
    params: {
      label: 'parameters',
      editorDefault: {},
      kind: 'object',
      read(saved: unknown): Record<string, unknown> {
        if (saved === undefined || saved === null || saved === '') return {};
        let value: unknown = saved;
        if (typeof saved === 'string') {
          try {
            value = JSON.parse(saved) as unknown;
          } catch {
            throw new FieldProblem('an object of parameters (or its JSON text)');
          }
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FieldProblem('an object of parameters (or its JSON text)');
        return value as Record<string, unknown>;
      },
    } satisfies EditorField<Record<string, unknown>>,
  });
}

/**
 * Every Workcell node type's fields, by type: what the editor saves and the runtime reads (the
 * editor test holds each `.html` file's `defaults` against it).
 */
export const EDITOR_FIELDS: Readonly<Record<string, FieldTable<Record<string, unknown>>>> = {
  'workcell-abort-context': ABORT_CONTEXT_FIELDS,
  'workcell-mqtt': MQTT_FIELDS,
  'workcell-sequence': SEQUENCE_FIELDS,
  'workcell-sequence-end': SEQUENCE_END_FIELDS,
  'workcell-estop': ESTOP_FIELDS,
  'workcell-cell-status': CELL_STATUS_FIELDS,
  'workcell-wait': WAIT_FIELDS,
  'workcell-serial': SERIAL_FIELDS,
  'workcell-modbus': MODBUS_FIELDS,
  'workcell-gantry-device': GANTRY_DEVICE_FIELDS,
  'workcell-gantry': deviceActionFields(GANTRY_OPERATIONS, 'move'),
  'workcell-instrument-device': INSTRUMENT_DEVICE_FIELDS,
  'workcell-instrument': deviceActionFields(INSTRUMENT_OPERATIONS, 'measure'),
  'workcell-furnace-device': FURNACE_DEVICE_FIELDS,
  'workcell-furnace': deviceActionFields(FURNACE_OPERATIONS, 'read'),
  'workcell-press-device': PRESS_DEVICE_FIELDS,
  'workcell-press': deviceActionFields(PRESS_OPERATIONS, 'cycle'),
  'workcell-actuator-device': ACTUATOR_DEVICE_FIELDS,
  'workcell-actuator': deviceActionFields(ACTUATOR_OPERATIONS, 'extend'),
} as Record<string, FieldTable<Record<string, unknown>>>;
