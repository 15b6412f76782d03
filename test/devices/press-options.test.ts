import assert from 'node:assert/strict';
import { ModbusBus } from '../../lib/io/modbus/modbus-bus';
import { DEFAULT_PRESS_MAP, PressDevice, resolvePressMap } from '../../lib/devices/press';
import { addressSpan } from '../../lib/devices/modbus/address-span';
import { pollUntil } from '../../lib/devices/modbus/poll-until';
import { firstOf } from '../support/event-order';

describe('press map and options', function () {
  it('applies overrides group by group over the default map', () => {
    const map = resolvePressMap('Press', { coils: { stop: 10 }, scaling: { forceKn: 1 } });
    assert.equal(map.coils.stop, 10);
    assert.equal(map.coils.cycleStart, DEFAULT_PRESS_MAP.coils.cycleStart);
    assert.deepEqual(map.scaling, { forceKn: 1, positionMm: 0.1, currentKa: 0.01 });
  });

  it('refuses an address out of range, two entries at one address, a scale of 0 and equal modes, naming each', () => {
    assert.throws(() => resolvePressMap('Press', { coils: { stop: 70000 } }), { message: 'Press: the map\'s coils.stop must be an address 0–65535, got 70000 (number)' });
    assert.throws(() => resolvePressMap('Press', { inputs: { fault: 2 } }), { message: 'Press: the map\'s inputs.fault and inputs.guardClosed are both at address 2' });
    assert.throws(() => resolvePressMap('Press', { holding: { mode: '5' as unknown as number } }), { message: 'Press: the map\'s holding.mode must be an address 0–65535, got "5" (string)' });
    assert.throws(() => resolvePressMap('Press', { scaling: { currentKa: 0 } }), { message: 'Press: the map\'s scaling.currentKa must be a number above 0, got 0 (number)' });
    assert.throws(() => resolvePressMap('Press', { modes: { position: 0 } }), { message: 'Press: the map\'s modes.force and modes.position are both 0' });
  });

  it('refuses a group or an entry the map does not have, naming the choices', () => {
    assert.throws(() => resolvePressMap('Press', { coil: {} } as never), { message: 'Press: the map has no group "coil" (string) (expected coils, inputs, holding, inputRegisters, scaling, modes)' });
    assert.throws(() => resolvePressMap('Press', { coils: { stopp: 3 } } as never), { message: 'Press: the map\'s coils has no entry "stopp" (string) (expected cycleStart, stop, retract, weldEnable, faultReset)' });
    assert.throws(() => resolvePressMap('Press', { coils: 3 } as never), { message: 'Press: the map\'s coils must be an object of entries, got 3 (number)' });
  });

  it('the smallest span holds every address', () => {
    assert.deepEqual(addressSpan([4, 1, 7]), { start: 1, count: 7 });
  });

  it('the driver refuses limits, interlocks, periods and maps it cannot work with', () => {
    const bus = new ModbusBus('tcp://127.0.0.1:1');
    const make = (o: object) => () => new PressDevice({ name: 'Press', unitId: 1, bus, ...o });
    assert.throws(make({ limits: { maxForceKn: -1 } }), { message: 'Press: the limit maxForceKn must be a number, 0 or more, got -1 (number)' });
    assert.throws(make({ limits: { minPositionMm: 50, maxPositionMm: 40 } }), { message: 'Press: the position range 50–40 mm is empty' });
    assert.throws(make({ interlocks: ['door'] }), { message: 'Press: unknown interlock "door" (string); expected guard, lightCurtain or twoHand' });
    assert.throws(make({ watchIntervalMs: 1 }), { message: 'Press: the watch interval must be 5 ms to 1 h, got 1 (number)' });
    assert.throws(make({ telemetryIntervalMs: 5 }), { message: 'Press: the telemetry interval must be 0 (off) or 20 ms to 1 h, got 5 (number)' });
    assert.throws(make({ map: { inputRegisters: { faultCode: 300 } } }), { message: 'Press: the map\'s input registers span 301 addresses; one read takes at most 125' });
  });
});

describe('pollUntil', function () {
  const never = new AbortController().signal;

  it('reads at once, hands every value to seen, and resolves with the value that met the condition', async () => {
    let n = 0;
    const seen: number[] = [];
    const result = await pollUntil(async () => ++n, (v) => v === 3, { periodMs: 1, timeoutMs: 10_000, signal: never }, (v) => seen.push(v));
    assert.deepEqual(result, { value: 3, met: true });
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('resolves with the last value and met false once the timeout has passed', async () => {
    let n = 0;
    const result = await pollUntil(async () => ++n, () => false, { periodMs: 5, timeoutMs: 20, signal: never });
    assert.equal(result.met, false);
    assert.equal(result.value, n);
  });

  it('rejects with the signal\'s reason when it fires between reads, without waiting out the period', async () => {
    const abort = new AbortController();
    const polling = pollUntil(async () => 0, () => false, { periodMs: 60_000, timeoutMs: 120_000, signal: abort.signal });
    polling.catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    abort.abort(new Error('stop'));
    const tick = new Promise((r) => setImmediate(r));
    assert.equal(await firstOf({ rejected: polling, tick }), 'rejected');
    await assert.rejects(polling, /^Error: stop$/);
  });

  it('rejects with the read\'s error', async () => {
    await assert.rejects(pollUntil(async () => { throw new Error('no reply'); }, () => true, { periodMs: 1, timeoutMs: 10, signal: never }), /no reply/);
  });
});
