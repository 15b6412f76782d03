import assert from 'node:assert/strict';
import { OperationSpec, WorkcellError, findOperation, operationsHelp, showValue, validateParams } from '../../lib';

const RAMP: OperationSpec = {
  name: 'ramp',
  label: 'Ramp',
  description: 'Ramp the setpoint.',
  params: [
    { name: 'setpoint', label: 'Setpoint', type: 'number', required: true, min: 0, max: 1200, unit: '°C' },
    { name: 'steps', label: 'Steps', type: 'integer', default: 1, min: 1 },
    { name: 'mode', label: 'Mode', type: 'enum', values: ['fast', 'gentle'], default: 'gentle' },
    { name: 'hold', label: 'Hold at end', type: 'boolean', default: false },
    { name: 'note', label: 'Note', type: 'string', maxLength: 5 },
    { name: 'extra', label: 'Extra', type: 'json' },
  ],
  result: '`{setpoint}`',
};

function refusal(raw: unknown): WorkcellError {
  try {
    validateParams('oven', RAMP, raw);
  } catch (err) {
    assert.ok(err instanceof WorkcellError);
    return err;
  }
  throw new Error('expected a refusal');
}

describe('validateParams', () => {
  it('returns the parameters typed, with defaults filled in; numbers given as numeric strings are accepted', () => {
    assert.deepEqual(validateParams('oven', RAMP, { setpoint: '250', steps: '3', hold: 'true', extra: { a: [1] } }), {
      setpoint: 250,
      steps: 3,
      mode: 'gentle',
      hold: true,
      extra: { a: [1] },
    });
    assert.deepEqual(validateParams('oven', RAMP, { setpoint: 0, hold: 'false', mode: 'fast', note: 'ok' }), {
      setpoint: 0,
      steps: 1,
      mode: 'fast',
      hold: false,
      note: 'ok',
    });
  });

  it('parameters outside their bounds are refused naming device, operation, parameter and value', () => {
    const high = refusal({ setpoint: 1500 });
    assert.equal(high.message, 'oven: ramp: parameter "setpoint" must be at most 1200 °C, got 1500 (number)');
    assert.deepEqual([high.code, high.subject, high.operation, high.value], ['invalid-parameter', 'oven', 'ramp', 1500]);
    assert.equal(refusal({ setpoint: -1 }).message, 'oven: ramp: parameter "setpoint" must be at least 0 °C, got -1 (number)');
    assert.equal(refusal({ setpoint: 1, steps: 0 }).message, 'oven: ramp: parameter "steps" must be at least 1, got 0 (number)');
  });

  it('the wrong type is refused: non-numbers, fractions for integers, bad booleans, non-strings, unknown enum values, long strings', () => {
    assert.match(refusal({ setpoint: 'hot' }).message, /parameter "setpoint" must be a finite number, got "hot" \(string\)/);
    assert.match(refusal({ setpoint: Number.NaN }).message, /must be a finite number/);
    assert.match(refusal({ setpoint: 1, steps: 1.5 }).message, /parameter "steps" must be a whole number, got 1.5 \(number\)/);
    assert.match(refusal({ setpoint: 1, hold: 'yes' }).message, /parameter "hold" must be true or false, got "yes" \(string\)/);
    assert.match(refusal({ setpoint: 1, note: 5 }).message, /parameter "note" must be a string, got 5 \(number\)/);
    assert.match(refusal({ setpoint: 1, note: 'too long' }).message, /parameter "note" must be at most 5 characters/);
    assert.match(refusal({ setpoint: 1, mode: 'turbo' }).message, /parameter "mode" must be one of fast, gentle, got "turbo" \(string\)/);
  });

  it('a missing required parameter without a default is an error (empty string and null count as missing)', () => {
    for (const raw of [{}, { setpoint: '' }, { setpoint: null }, undefined, null]) {
      assert.match(refusal(raw).message, /oven: ramp: parameter "setpoint" is required/);
    }
  });

  it('unknown parameters are refused too: a typo must not silently do nothing', () => {
    const err = refusal({ setpoint: 1, setpiont: 2 });
    assert.equal(err.message, 'oven: ramp: parameter "setpiont" is not a parameter of ramp (expected setpoint, steps, mode, hold, note, extra), got 2 (number)');
  });

  it('parameters that are not an object are refused', () => {
    for (const raw of [42, 'setpoint=5', [1, 2]]) {
      const err = refusal(raw);
      assert.equal(err.code, 'invalid-parameters');
      assert.match(err.message, /^oven: ramp: parameters must be an object, got /);
    }
  });
});

describe('findOperation', () => {
  it('finds a declared operation or refuses naming the device and the choices', () => {
    assert.equal(findOperation('oven', [RAMP], 'ramp'), RAMP);
    assert.throws(
      () => findOperation('oven', [RAMP], 7),
      (e) => e instanceof WorkcellError && e.code === 'unknown-operation' && e.message === 'oven: unknown operation 7 (number); expected one of ramp',
    );
  });
});

describe('operationsHelp', () => {
  it('derives the help text from the declaration: label, name, description, each parameter with type, unit, bounds and default, and the output', () => {
    const help = operationsHelp([RAMP, { name: 'noop', label: 'No-op', description: 'Nothing.', params: [] }]);
    assert.match(help, /^### Operations/);
    assert.match(help, /#### Ramp \(`ramp`\)\n\nRamp the setpoint\./);
    assert.match(help, /- `msg.params.setpoint` — Setpoint \(number, in °C, ≥ 0, ≤ 1200, required\)/);
    assert.match(help, /- `msg.params.mode` — Mode \(one of `fast`, `gentle`, default `"gentle"`\)/);
    assert.match(help, /Output `msg.payload`: `\{setpoint\}`/);
    assert.match(help, /#### No-op \(`noop`\)\n\nNothing\.\n/);
  });
});

describe('WorkcellError and showValue', () => {
  it('carries code, subject, operation, value and cause as fields', () => {
    const cause = new Error('socket closed');
    const err = new WorkcellError('limit', 'x: y refused', { subject: 'x', operation: 'y', value: 3, cause });
    assert.deepEqual([err.name, err.code, err.subject, err.operation, err.value, err.cause], ['WorkcellError', 'limit', 'x', 'y', 3, cause]);
    assert.ok(err instanceof Error);
  });

  it('shows values with their type, quoting strings and shortening long ones', () => {
    assert.equal(showValue(undefined), 'nothing');
    assert.equal(showValue(null), 'null');
    assert.equal(showValue('a'), '"a" (string)');
    assert.equal(showValue(true), 'true (boolean)');
    assert.equal(showValue([1, 2]), '[1,2] (array)');
    assert.equal(showValue({ a: 1 }), '{"a":1} (object)');
    assert.equal(showValue('x'.repeat(100)), `"${'x'.repeat(77)}..." (string)`);
  });
});
