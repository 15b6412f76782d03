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

/** A move whose feed is required unless rapid, and which needs at least one axis. */
const MOVE: OperationSpec = {
  name: 'move',
  label: 'Move',
  description: 'Move.',
  atLeastOne: ['x', 'y'],
  params: [
    { name: 'x', label: 'X', type: 'number' },
    { name: 'y', label: 'Y', type: 'number' },
    { name: 'feed', label: 'Feed', type: 'number', requiredWhen: { param: 'rapid', equals: false } },
    { name: 'rapid', label: 'Rapid', type: 'boolean', default: false },
  ],
};

describe('validateParams: the rules across parameters', () => {
  it('a parameter required when another has a value (after its default) is refused missing then, and accepted missing otherwise', () => {
    assert.throws(() => validateParams('Mill', MOVE, { x: 1 }), (err: WorkcellError) => err.message === 'Mill: move: parameter "feed" is required when rapid is false, got nothing');
    assert.throws(() => validateParams('Mill', MOVE, { x: 1, rapid: 'false' }), /parameter "feed" is required when rapid is false/);
    assert.deepEqual(validateParams('Mill', MOVE, { x: 1, rapid: true }), { x: 1, rapid: true });
    assert.deepEqual(validateParams('Mill', MOVE, { x: 1, feed: '500' }), { x: 1, feed: 500, rapid: false });
  });

  it('an operation needing at least one of some parameters refuses none of them, naming them', () => {
    assert.throws(
      () => validateParams('Mill', MOVE, { feed: 500 }),
      (err: WorkcellError) => err.message === 'Mill: move: give at least one of x, y' && err.code === 'invalid-parameters' && err.operation === 'move',
    );
    assert.deepEqual(validateParams('Mill', MOVE, { y: 0, rapid: true }), { y: 0, rapid: true });
  });

  it('the help says both rules', () => {
    const help = operationsHelp([MOVE]);
    assert.match(help, /- `msg.params.feed` — Feed \(number, required when `rapid` is `false`\)/);
    assert.match(help, /At least one of `x`, `y` must be given\./);
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
    assert.equal(showValue('42'), '"42" (string)');
    assert.equal(showValue('line\nbreak "quoted"'), '"line\\nbreak \\"quoted\\"" (string)');
    assert.equal(showValue(true), 'true (boolean)');
    assert.equal(showValue([1, 2]), '[1,2] (array)');
    assert.equal(showValue({ a: 1 }), '{"a":1} (object)');
    assert.equal(showValue('x'.repeat(100)), `"${'x'.repeat(78)}… (string of 100 characters)`);
  });

  it('shows numbers as JavaScript writes them: NaN, Infinity and -0 included; bigints with n', () => {
    assert.equal(showValue(42), '42 (number)');
    assert.equal(showValue(NaN), 'NaN (number)');
    assert.equal(showValue(-Infinity), '-Infinity (number)');
    assert.equal(showValue(-0), '-0 (number)');
    assert.equal(showValue(12345678901234567890n), '12345678901234567890n (bigint)');
  });

  it('shows symbols by description and functions by name, never their source', () => {
    assert.equal(showValue(Symbol('door')), 'Symbol(door) (symbol)');
    assert.equal(showValue(function openDoor() { return 'secret source'; }), 'function openDoor (function)');
    assert.equal(showValue(() => 1), 'function (anonymous) (function)');
  });

  it('shows the contents of arrays and objects by the same rules, where JSON would drop or change them', () => {
    assert.equal(showValue([1, undefined, NaN, -0]), '[1,undefined,NaN,-0] (array)');
    assert.equal(showValue({ a: undefined, big: 1n, f: function named() {} }), '{"a":undefined,"big":1n,"f":function named} (object)');
    assert.equal(showValue({ nested: { list: ['x', null] } }), '{"nested":{"list":["x",null]}} (object)');
    assert.equal(showValue(Object.create(null)), '{} (object)');
  });

  it('shows a reference back to an enclosing object as [circular] (never [object Object]); a shared one twice', () => {
    const loop: Record<string, unknown> = { id: 7 };
    loop.self = loop;
    assert.equal(showValue(loop), '{"id":7,"self":[circular]} (object)');
    const shared = { n: 1 };
    assert.equal(showValue([shared, shared]), '[{"n":1},{"n":1}] (array)');
  });

  it('names other objects by their class: Date, Error, Map, Set, Buffer, RegExp, class instances', () => {
    assert.equal(showValue(new Date(0)), 'Date 1970-01-01T00:00:00.000Z (Date)');
    assert.equal(showValue(new Date(NaN)), 'Date Invalid Date (Date)');
    assert.equal(showValue(new TypeError('boom')), 'TypeError: boom (TypeError)');
    assert.equal(showValue(new Map<unknown, unknown>([['a', 1], [2, { b: 3 }]])), 'Map {"a" => 1,2 => {"b":3}} (Map)');
    assert.equal(showValue(new Set(['a', 1])), 'Set ["a",1] (Set)');
    assert.equal(showValue(Buffer.from([1, 255])), '<Buffer 01 ff> (Buffer)');
    assert.equal(showValue(/ok\r?$/i), '/ok\\r?$/i (RegExp)');
    class Point {
      x = 1;
      y = -2;
    }
    assert.equal(showValue(new Point()), 'Point {"x":1,"y":-2} (Point)');
  });

  it('cuts what is longer than 80 characters with …, without building the whole text of a huge value', () => {
    const huge = new Array(1_000_000).fill(7);
    const shown = showValue(huge);
    assert.equal(shown, `[${'7,'.repeat(39)}… (array)`);
    assert.equal(showValue({ text: 'y'.repeat(200) }), `{"text":"${'y'.repeat(70)}… (object)`);
    // Characters, not UTF-16 code units: 50 emoji fit, and a cut string counts characters.
    assert.equal(showValue('😀'.repeat(50)), `"${'😀'.repeat(50)}" (string)`);
    assert.equal(showValue('😀'.repeat(100)), `"${'😀'.repeat(78)}… (string of 100 characters)`);
  });

  it('says what a value is when reading it throws (a getter, a revoked proxy)', () => {
    const proxy = Proxy.revocable({}, {});
    proxy.revoke();
    assert.equal(showValue(proxy.proxy), '[object that cannot be read] (object)');
    const getter = { get broken(): number { throw new Error('no'); } };
    assert.equal(showValue(getter), '[object that cannot be read] (object)');
  });
});
