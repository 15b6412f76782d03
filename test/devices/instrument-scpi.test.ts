import assert from 'node:assert/strict';
import {
  INSTRUMENT_OPERATIONS, ScpiCommandError, ScpiInstrumentDevice, containsQuery, instrumentPreset, parseScpiError, parseScpiNumber,
  parseScpiNumbers, parseTelemetryQueries, unitOfQuery,
} from '../../lib/devices/instrument';
import { operationsHelp, validateParams, findOperation } from '../../lib/device';

describe('SCPI reply parsing', () => {
  it('reads the IEEE 488.2 decimal formats NR1, NR2 and NR3', () => {
    assert.deepEqual(parseScpiNumber('+1.23456789E+00'), { value: 1.23456789, overload: false, text: '+1.23456789E+00' });
    assert.equal(parseScpiNumber('5.000')?.value, 5);
    assert.equal(parseScpiNumber('-42')?.value, -42);
    assert.equal(parseScpiNumber(' .5e-3 \r')?.value, 0.0005);
  });

  it('reads ±9.9E37 as an overload (±Infinity) and refuses SCPI NaN (9.91E37)', () => {
    assert.deepEqual(parseScpiNumber('+9.90000000E+37'), { value: Infinity, overload: true, text: '+9.90000000E+37' });
    assert.deepEqual(parseScpiNumber('-9.9E37'), { value: -Infinity, overload: true, text: '-9.9E37' });
    assert.equal(parseScpiNumber('9.91E+37'), undefined);
  });

  it('refuses anything that is not a plain decimal number: units, keywords, damage', () => {
    for (const text of ['', 'ON', '5V', '1,2', '0x10', 'NaN', 'Infinity', '1.2.3', '¿1.0', '+', '1e', '#H1F']) {
      assert.equal(parseScpiNumber(text), undefined, text);
    }
  });

  it('reads comma-separated readings, and names device, operation, query and reply when one is damaged', () => {
    assert.deepEqual(parseScpiNumbers('PSU', 'measure', ':MEAS:ALL?', '5.0000,0.5000,2.500').map((n) => n.value), [5, 0.5, 2.5]);
    assert.throws(() => parseScpiNumbers('DMM', 'read', 'READ?', '+1.0E+00,\u00e9\u00ff'), {
      code: 'garbled-reply',
      message: 'DMM: read: the reply to "READ?" is not a number: "+1.0E+00,éÿ" (string)',
    });
    assert.throws(() => parseScpiNumbers('DMM', 'read', 'READ?', ''), /is not a number: "" \(string\)/);
  });

  it('finds the unit in a measurement header, short or long form, any case', () => {
    assert.equal(unitOfQuery('MEAS:VOLT:DC?'), 'V');
    assert.equal(unitOfQuery(':MEASure:CURRent? CH1'), 'A');
    assert.equal(unitOfQuery('meas:res? 1000'), 'Ω');
    assert.equal(unitOfQuery('CONF:TEMP FRTD'), '°C');
    assert.equal(unitOfQuery('MEAS:SCAL:VOLT:AC?'), 'V');
    assert.equal(unitOfQuery(':MEAS:POWE? CH2'), 'W');
    assert.equal(unitOfQuery(':MEAS?'), 'V');
    assert.equal(unitOfQuery('READ?'), undefined);
    assert.equal(unitOfQuery('SYST:ERR?'), undefined);
  });

  it('tells queries from commands, ignoring ? inside quoted strings', () => {
    assert.equal(containsQuery('*IDN?'), true);
    assert.equal(containsQuery('CONF:VOLT:DC;:READ?'), true);
    assert.equal(containsQuery('DISP:TEXT "why?"'), false);
    assert.equal(containsQuery("DISP:TEXT 'a?b'"), false);
    assert.equal(containsQuery('OUTP ON'), false);
  });
});

describe('SCPI error entries', () => {
  it('parses SYST:ERR? replies in Keysight (+0) and Rigol (0) style, with doubled quotes inside', () => {
    assert.deepEqual(parseScpiError('-222,"Data out of range"'), { code: -222, message: 'Data out of range' });
    assert.deepEqual(parseScpiError('+0,"No error"'), { code: 0, message: 'No error' });
    assert.deepEqual(parseScpiError('0,"No error"'), { code: 0, message: 'No error' });
    assert.deepEqual(parseScpiError('-113,"Undefined header;""FOO"" unknown"'), { code: -113, message: 'Undefined header;"FOO" unknown' });
    assert.deepEqual(parseScpiError('+101,"Calibration"'), { code: 101, message: 'Calibration' });
  });

  it('refuses lines that are not error entries', () => {
    for (const text of ['', 'No error', '-222', '"Data out of range"', '+1.0E+00', '-222,Data out of range']) assert.equal(parseScpiError(text), undefined, text);
  });

  it('an error sentence names device, operation and command, and shows the entries as the instrument prints them', () => {
    const e = new ScpiCommandError('DMM', 'write', 'VOLT 99', [{ code: -222, message: 'Data out of range' }]);
    assert.equal(e.message, 'DMM: write "VOLT 99" → -222,"Data out of range"');
    assert.equal(e.code, 'scpi-error');
    assert.equal(e.subject, 'DMM');
    assert.equal(e.operation, 'write');
    assert.equal(e.value, 'VOLT 99');
  });
});

describe('instrument presets, configuration and operation table', () => {
  it('the PSU preset switches every output off by default; the DMM has no outputs', () => {
    assert.deepEqual(instrumentPreset('rigol-dp821').safeCommands, [':OUTP CH1,OFF', ':OUTP CH2,OFF']);
    assert.deepEqual(instrumentPreset('keysight-34461a').safeCommands, []);
    assert.equal(instrumentPreset(undefined).id, 'generic');
    assert.throws(() => instrumentPreset('hp-3458a'), /unknown instrument preset "hp-3458a"; expected one of keysight-34461a, rigol-dp821, generic/);
  });

  it('parses telemetry lines (name=QUERY or a bare query) and refuses non-queries and duplicate names', () => {
    assert.deepEqual(parseTelemetryQueries('v = :MEAS:VOLT? CH1\n\n i=:MEAS:CURR? CH1 \r\nREAD?'), [
      { name: 'v', query: ':MEAS:VOLT? CH1' },
      { name: 'i', query: ':MEAS:CURR? CH1' },
      { name: 'reading', query: 'READ?' },
    ]);
    assert.throws(() => parseTelemetryQueries('v=OUTP ON'), /"OUTP ON" is not a query/);
    assert.throws(() => parseTelemetryQueries('v=READ?\nv=FETC?'), /the name v is used twice/);
    assert.throws(() => parseTelemetryQueries('1v=READ?'), /telemetry line "1v=READ\?": the name "1v" is not a name/);
    assert.throws(() => parseTelemetryQueries('=READ?'), /the name "" is not a name/);
    assert.deepEqual(parseTelemetryQueries('CONF:VOLT? MAX=1'), [{ name: 'reading', query: 'CONF:VOLT? MAX=1' }], 'an = after the ? belongs to the query');
  });

  it('refuses bad configuration when the device is created, naming the setting', () => {
    const base = { name: 'DMM', address: 'tcp://127.0.0.1:5025' };
    assert.throws(() => new ScpiInstrumentDevice({ ...base, measureQuery: 'CONF:VOLT' }), /DMM: the measure query "CONF:VOLT" must be one line containing \?/);
    assert.throws(() => new ScpiInstrumentDevice({ ...base, safeCommands: ['OUTP?'] }), /"OUTP\?" cannot be a stop, safe or init command/);
    assert.throws(() => new ScpiInstrumentDevice({ ...base, outputCommand: 'OUTP ON' }), /needs a \{state\} placeholder/);
    assert.throws(() => new ScpiInstrumentDevice({ ...base, address: 'localhost:5025' }), /is not a connection address/);
    assert.throws(() => new ScpiInstrumentDevice({ ...base, timeoutMs: 0 }), /the reply timeout must be more than 0 ms/);
  });

  it('the operation table validates parameters and yields help for the editor', () => {
    const measure = findOperation('DMM', INSTRUMENT_OPERATIONS, 'measure');
    assert.deepEqual(validateParams('DMM', measure, { timeoutMs: '2500' }), { overload: 'error', timeoutMs: 2500 });
    assert.throws(() => validateParams('DMM', findOperation('DMM', INSTRUMENT_OPERATIONS, 'output'), { channel: 1 }), /DMM: output: parameter "on" is required/);
    assert.deepEqual(INSTRUMENT_OPERATIONS.map((o) => o.name), ['measure', 'read', 'query', 'write', 'output']);
    const help = operationsHelp(INSTRUMENT_OPERATIONS);
    assert.match(help, /#### Measure \(`measure`\)/);
    assert.match(help, /#### Output on\/off \(`output`\)/);
  });
});
