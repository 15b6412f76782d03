import assert from 'node:assert/strict';
import { Cancelled, DeviceHealth, EStop, WorkcellError, isPausable, sleep } from '../../lib';
import { PlainDevice, TestDevice, rejection, tick, until } from './helpers';

const quiet = () => new AbortController().signal;
const summary = (d: TestDevice) => d.log.map((e) => `${e.what}${e.op ? ' ' + e.op : ''}`);

describe('Device', () => {
  it('performs a validated operation and returns its result; busy while it runs, ready after, health on every change', async () => {
    const d = new TestDevice('gantry');
    const health: DeviceHealth[] = [];
    d.on('health', (h: DeviceHealth) => health.push(h));
    const p = d.execute('move', { position: '12.5' }, { signal: quiet() });
    await until(() => d.log.length > 0, 'the move');
    assert.equal(d.status, 'busy');
    assert.deepEqual(await p, { position: 12.5 });
    assert.equal(d.status, 'ready');
    assert.deepEqual(d.log[0].detail, { position: 12.5, ms: 10 }, 'defaults filled, numeric strings typed');
    assert.deepEqual(health.map((h) => [h.status, h.detail]), [['busy', 'Move'], ['ready', '']]);
    assert.deepEqual(Object.keys(health[0]).sort(), ['detail', 'device', 'fault', 'kind', 'owner', 'positionTrusted', 'status']);
  });

  it('parameters outside limits are refused with an error naming device, operation and value, before anything is sent', async () => {
    const d = new TestDevice('gantry');
    d.limitMm = 50;
    const err = await rejection(d.execute('move', { position: 75 }, { signal: quiet() }));
    assert.ok(err instanceof WorkcellError);
    assert.deepEqual([err.code, err.subject, err.operation, err.value], ['limit', 'gantry', 'move', 75]);
    assert.equal(err.message, 'gantry: move refused: position 75 (number) is outside the limit ±50 mm; nothing was sent');
    const declared = await rejection(d.execute('move', { position: 500 }, { signal: quiet() }));
    assert.ok(declared instanceof WorkcellError);
    assert.deepEqual([declared.code, declared.subject, declared.operation, declared.value], ['invalid-parameter', 'gantry', 'move', 500]);
    assert.match(declared.message, /gantry: move: parameter "position" must be at most 100 mm, got 500 \(number\)/);
    assert.deepEqual(d.log, [], 'nothing reached the device');
    assert.equal(d.owner, null, 'a refused operation does not take the device');
  });

  it('an unknown operation is refused naming the device and the choices', async () => {
    const d = new TestDevice('gantry');
    const err = await rejection(d.execute('jump', {}, { signal: quiet() }));
    assert.ok(err instanceof WorkcellError);
    assert.equal(err.message, 'gantry: unknown operation "jump" (string); expected one of move, noop, fail');
  });

  it('a device that is not connected refuses operations, saying why', async () => {
    const d = new TestDevice('oven');
    d.setStatusTo('disconnected', 'ECONNREFUSED 10.0.0.5:502');
    const err = await rejection(d.execute('noop', {}, { signal: quiet() }));
    assert.ok(err instanceof WorkcellError);
    assert.equal(err.code, 'not-connected');
    assert.equal(err.message, 'oven: noop refused: the device is disconnected (ECONNREFUSED 10.0.0.5:502)');
    d.setStatusTo('connecting');
    assert.equal(((await rejection(d.execute('noop', {}, { signal: quiet() }))) as WorkcellError).code, 'not-connected');
    assert.deepEqual(d.log, []);
  });

  it('a device whose position cannot be trusted says so and refuses moves until homed (other operations still run)', async () => {
    const d = new TestDevice('gantry');
    d.markUntrusted();
    assert.equal(d.health.positionTrusted, false);
    const err = await rejection(d.execute('move', { position: 1 }, { signal: quiet() }));
    assert.ok(err instanceof WorkcellError);
    assert.equal(err.code, 'position-untrusted');
    assert.match(err.message, /gantry: move refused: the position can no longer be trusted; home the device first/);
    assert.deepEqual(await d.execute('noop', {}, { signal: quiet() }), {});
    d.homed();
    assert.deepEqual(await d.execute('move', { position: 1, ms: 0 }, { signal: quiet() }), { position: 1 });
  });

  it("a driver's error is what execute rejects with", async () => {
    const d = new TestDevice('gantry');
    const err = await rejection(d.execute('fail', { message: 'alarm 2' }, { signal: quiet() }));
    assert.equal((err as Error).message, 'gantry: alarm 2');
    assert.equal(d.status, 'ready');
  });

  it('an awaiting operation resumes within one event-loop turn of the signal firing, and the driver is told to stop it', async () => {
    const d = new TestDevice('gantry');
    const ac = new AbortController();
    const order: string[] = [];
    const awaiting = d.execute('move', { position: 1, ms: 60_000 }, { signal: ac.signal }).catch((e) => {
      order.push(`resumed with ${(e as Cancelled).kind}`);
    });
    await until(() => d.log.length > 0, 'the move');
    setImmediate(() => order.push('next turn'));
    ac.abort(new Cancelled('operator'));
    order.push(`driver told: ${summary(d).includes('abort-op move')}`);
    await awaiting;
    await tick();
    assert.deepEqual(order, ['driver told: true', 'resumed with cancelled', 'next turn']);
  });

  it('a stop bypasses the command queue: it goes out while an operation runs, and running and queued operations reject with the reason', async () => {
    const d = new TestDevice('gantry');
    const running = d.execute('move', { position: 1, ms: 60_000 }, { signal: quiet() });
    const queued = d.execute('move', { position: 2, ms: 0 }, { signal: quiet() });
    await until(() => d.log.length > 0, 'the move');
    const reason = new EStop('panel');
    const stopped = d.stop(reason);
    assert.deepEqual(summary(d), ['perform move', 'stop'], 'the stop frame was written before stop() returned');
    await stopped;
    assert.deepEqual(await Promise.all([rejection(running), rejection(queued)]), [reason, reason]);
    await sleep(5);
    assert.deepEqual(summary(d), ['perform move', 'stop'], 'the queued move never ran, and no per-operation stop was sent on top of the stop');
    assert.equal(d.position, 0);
  });

  it('stop() resolves when acknowledged and rejects when the device does not acknowledge', async () => {
    const d = new TestDevice('press');
    await d.stop(new EStop('x'));
    d.stopFails = true;
    assert.match(((await rejection(d.stop(new EStop('x')))) as Error).message, /press: stop not acknowledged/);
  });

  it("ownership: the first run's operation takes the device; the same run reuses it; release gives it back", async () => {
    const d = new TestDevice('arm');
    const owners: (string | null)[] = [];
    d.on('health', (h: DeviceHealth) => owners.push(h.owner));
    await d.execute('noop', {}, { signal: quiet(), runId: 'run-1' });
    await d.execute('noop', {}, { signal: quiet(), runId: 'run-1' });
    assert.equal(d.owner, 'run-1');
    d.release('run-2');
    assert.equal(d.owner, 'run-1', 'only the owner releases');
    d.release('run-1');
    assert.equal(d.owner, null);
    assert.deepEqual([...new Set(owners)], ['run-1', null]);
  });

  it("ownership: another run's step waits for the device (wait mode) and goes on once it is released", async () => {
    const d = new TestDevice('arm');
    await d.execute('noop', {}, { signal: quiet(), runId: 'run-1' });
    let done = false;
    const second = d.execute('noop', {}, { signal: quiet(), runId: 'run-2' }).then(() => (done = true));
    await sleep(5);
    assert.equal(done, false);
    assert.equal(summary(d).length, 1);
    d.release('run-1');
    await second;
    assert.equal(d.owner, 'run-2');
    assert.equal(summary(d).length, 2);
  });

  it('ownership: a step waiting for the device ends with the reason when its run is cancelled', async () => {
    const d = new TestDevice('arm');
    await d.execute('noop', {}, { signal: quiet(), runId: 'run-1' });
    const ac = new AbortController();
    const waiting = d.execute('noop', {}, { signal: ac.signal, runId: 'run-2' });
    await tick();
    const reason = new Cancelled('operator');
    ac.abort(reason);
    assert.equal(await rejection(waiting), reason);
    assert.equal(d.owner, 'run-1');
  });

  it("ownership: by configuration another run's step fails fast, naming the run that holds the device", async () => {
    const d = new TestDevice('arm', [], { ownership: 'fail-fast' });
    await d.execute('noop', {}, { signal: quiet(), runId: 'run-1' });
    const err = await rejection(d.execute('move', { position: 1 }, { signal: quiet(), runId: 'run-2' }));
    assert.ok(err instanceof WorkcellError);
    assert.deepEqual([err.code, err.subject, err.operation, err.value], ['device-owned', 'arm', 'move', 'run-2']);
    assert.equal(err.message, 'arm: move refused: the device is in use by run run-1');
  });

  it('work outside any run does not take the device, and waits while a run holds it', async () => {
    const d = new TestDevice('arm', [], { ownership: 'fail-fast' });
    await d.execute('noop', {}, { signal: quiet() });
    assert.equal(d.owner, null);
    await d.execute('noop', {}, { signal: quiet(), runId: 'run-1' });
    assert.equal(((await rejection(d.execute('noop', {}, { signal: quiet() }))) as WorkcellError).code, 'device-owned');
  });

  it('a fault sets the status and emits a fault event carrying the critical flag; health reports it', () => {
    const d = new TestDevice('press', [], { critical: true });
    const faults: unknown[] = [];
    d.on('fault', (f) => faults.push(f));
    d.raiseFault('light curtain broken');
    assert.deepEqual(faults, [{ device: 'press', fault: 'light curtain broken', critical: true }]);
    assert.deepEqual([d.health.status, d.health.fault], ['fault', 'light curtain broken']);
  });

  it('reset clears a fault that has ended, but not one that lasts', async () => {
    const d = new TestDevice('press');
    d.raiseFault('guard open');
    d.lastingFault = 'guard open';
    await d.reset(quiet());
    assert.equal(d.status, 'fault');
    d.lastingFault = null;
    await d.reset(quiet());
    assert.deepEqual([d.status, d.health.fault], ['ready', null]);
  });

  it('telemetry goes out as events with the device, its kind and a time', () => {
    const d = new TestDevice('oven');
    const seen: Record<string, unknown>[] = [];
    d.on('telemetry', (t) => seen.push(t));
    d.publish({ temperature: 181.5 });
    assert.equal(seen.length, 1);
    assert.deepEqual({ ...seen[0], time: 0 }, { device: 'oven', kind: 'memory', time: 0, temperature: 181.5 });
    assert.equal(typeof seen[0].time, 'number');
  });

  it('a device declares whether it can pause', () => {
    assert.equal(isPausable(new TestDevice('gantry')), true);
    assert.equal(isPausable(new PlainDevice('heater')), false);
  });
});
