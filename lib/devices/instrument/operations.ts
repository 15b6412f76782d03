import type { OperationTable, ParamSpec } from '../../device/operations';

const timeoutParam: ParamSpec = {
  name: 'timeoutMs',
  label: 'Reply timeout',
  type: 'integer',
  min: 1,
  max: 3_600_000,
  unit: 'ms',
  description: 'how long to wait for the reply; default: the device\'s reply timeout. A slow measurement (many samples at 100 NPLC) needs more',
};

const overloadParam: ParamSpec = {
  name: 'overload',
  label: 'On overload',
  type: 'enum',
  values: ['error', 'flag'],
  default: 'error',
  description: 'a reading of ±9.9E37 (above the range) fails the step (`error`) or is passed on with `value: null, overload: true` (`flag`)',
};

const unitParam: ParamSpec = {
  name: 'unit',
  label: 'Unit',
  type: 'string',
  maxLength: 16,
  description: 'unit to report; default: from the query header (MEAS:VOLT → V), else the last configured function',
};

const reading = '`{value, unit, query, overload}`: the reading as a number (`values` too when the reply holds several; `value` null when flagged as overload)';

/**
 * The operations of a SCPI measurement instrument (DMM, power supply, source-measure unit). The
 * editor form, validation and help are derived from this table; the driver is
 * `ScpiInstrument` in this folder.
 */
export const INSTRUMENT_OPERATIONS: OperationTable = [
  {
    name: 'measure',
    label: 'Measure',
    description:
      'Send a measurement query (the device\'s configured one, e.g. `MEAS:VOLT:DC?`, or the one given) and parse the reply to a number with its unit. ' +
      'Cancelling it writes `ABOR` to the instrument at once.',
    params: [
      { name: 'query', label: 'Query', type: 'string', maxLength: 1000, description: 'a query ending in ?; default: the device\'s measure query' },
      unitParam,
      overloadParam,
      timeoutParam,
    ],
    result: reading,
  },
  {
    name: 'read',
    label: 'Read',
    description: 'Take one reading now with the instrument\'s present settings (the device\'s read query, `READ?` on a DMM), configuring nothing.',
    params: [unitParam, overloadParam, timeoutParam],
    result: reading,
  },
  {
    name: 'query',
    label: 'Query',
    description: 'Send any query (a command containing ?) and return the reply line as text. With the error check on, SCPI errors it caused fail the step.',
    params: [{ name: 'command', label: 'Command', type: 'string', required: true, maxLength: 1000, description: 'e.g. `*IDN?`, `CONF?`, `:APPL? CH1`' }, timeoutParam],
    result: 'the reply line (string)',
  },
  {
    name: 'write',
    label: 'Write',
    description:
      'Send a command that has no reply (no ?), e.g. `CONF:VOLT:DC 10` or `:APPL CH1,5,0.5`. An output level above the device\'s output limits is refused before anything is sent. ' +
      'With the error check on, the error queue is read afterwards and any SCPI error fails the step, naming the command.',
    params: [{ name: 'command', label: 'Command', type: 'string', required: true, maxLength: 1000, description: 'SCPI command(s), `;`-separated, without ?' }],
    result: '`{command}`',
  },
  {
    name: 'output',
    label: 'Output on/off',
    description: 'Switch an output (a power supply channel) on or off with the device\'s output command.',
    params: [
      { name: 'channel', label: 'Channel', type: 'integer', min: 1, max: 16, default: 1 },
      { name: 'on', label: 'On', type: 'boolean', required: true, description: 'true switches the output on, false off' },
    ],
    result: '`{channel, on}`',
  },
];
