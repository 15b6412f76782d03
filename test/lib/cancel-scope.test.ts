import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import {
  CancelScope,
  Cancellation,
  Cancelled,
  EStop,
  Failed,
  Timeout,
  abortable,
  describeError,
  isCancellation,
  shielded,
  sleep,
} from '../../lib';
import { rejection, tick } from './helpers';

describe('cancellation reasons', () => {
  it('there are four typed reasons, each a Cancellation with its kind and source', () => {
    const cause = new Error('gripper jammed');
    const reasons = [new EStop('panel'), new Cancelled('operator'), new Timeout('move X', 250), new Failed(cause, 'branch A')];
    assert.deepEqual(
      reasons.map((r) => [r.kind, r.name, r.source]),
      [
        ['estop', 'EStop', 'panel'],
        ['cancelled', 'Cancelled', 'operator'],
        ['timeout', 'Timeout', 'move X'],
        ['failed', 'Failed', 'branch A'],
      ],
    );
    for (const r of reasons) assert.ok(isCancellation(r) && r instanceof Cancellation && r instanceof Error);
    assert.equal(isCancellation(new Error('device fault')), false);
  });

  it('a Failed reason carries its cause; a Timeout carries its configured length', () => {
    const cause = new Error('gripper jammed');
    const failed = new Failed(cause, 'branch A');
    assert.equal(failed.cause, cause);
    assert.equal(failed.message, 'failed: gripper jammed');
    const timeout = new Timeout('move X', 250);
    assert.equal(timeout.timeoutMs, 250);
    assert.equal(timeout.message, 'move X timed out after 250 ms');
    assert.equal(new EStop('panel').message, 'emergency stop (panel)');
  });

  it('describeError gives the message of errors, strings and plain values', () => {
    assert.equal(describeError(new Error('x failed')), 'x failed');
    assert.equal(describeError('plain text'), 'plain text');
    assert.equal(describeError({ code: 3 }), '{"code":3} (object)');
    const circular: Record<string, unknown> = { code: 3 };
    circular.self = circular;
    assert.equal(describeError(circular), '{"code":3,"self":[circular]} (object)');
    assert.equal(describeError(undefined), 'nothing');
  });
});

describe('CancelScope', () => {
  it('owns a Node AbortSignal that fires once, with the typed reason', () => {
    const scope = new CancelScope({ name: 'run 1' });
    assert.ok(scope.signal instanceof AbortSignal);
    let fired = 0;
    scope.signal.addEventListener('abort', () => fired++);
    assert.equal(scope.cancelled, false);
    assert.equal(scope.reason, undefined);
    const reason = new EStop('panel');
    assert.equal(scope.cancel(reason), true);
    assert.equal(scope.cancel(new Cancelled('later')), false);
    assert.equal(fired, 1);
    assert.equal(scope.reason, reason);
    assert.equal(scope.signal.reason, reason);
  });

  it('the first reason wins: a later cancel changes nothing and returns false', () => {
    const scope = new CancelScope();
    scope.cancel(new Timeout('scope', 5));
    assert.equal(scope.cancel(new EStop('panel')), false);
    assert.equal(scope.reason?.kind, 'timeout');
  });

  it('cancel() without a reason cancels with Cancelled naming the scope', () => {
    const scope = new CancelScope({ name: 'gantry move' });
    scope.cancel();
    assert.ok(scope.reason instanceof Cancelled);
    assert.equal(scope.reason.source, 'gantry move');
  });

  it('listeners on the signal run synchronously inside cancel()', () => {
    const scope = new CancelScope();
    const order: string[] = [];
    scope.signal.addEventListener('abort', () => order.push('listener'));
    scope.cancel();
    order.push('after cancel');
    assert.deepEqual(order, ['listener', 'after cancel']);
  });

  it('cancelling a parent cancels every child and grandchild with the same reason', () => {
    const parent = new CancelScope({ name: 'cell' });
    const a = parent.child({ name: 'a' });
    const b = parent.child({ name: 'b' });
    const grandchild = a.child({ name: 'a.1' });
    const reason = new EStop('panel');
    parent.cancel(reason);
    for (const s of [a, b, grandchild]) assert.equal(s.reason, reason);
  });

  it("a child's cancellation never cancels its parent or its siblings", () => {
    const parent = new CancelScope();
    const a = parent.child();
    const b = parent.child();
    a.cancel(new Failed(new Error('x')));
    assert.equal(parent.cancelled, false);
    assert.equal(b.cancelled, false);
  });

  it('a child created under an already cancelled parent is born cancelled with the parent reason', () => {
    const parent = new CancelScope();
    const reason = new EStop('panel');
    parent.cancel(reason);
    const child = parent.child({ timeoutMs: 1000 });
    assert.equal(child.cancelled, true);
    assert.equal(child.reason, reason);
    assert.equal(child.deadlineHit, false);
  });

  it('a deadline in the past means the scope is born cancelled with Timeout', () => {
    for (const timeoutMs of [0, -50]) {
      const scope = new CancelScope({ name: 'late', timeoutMs });
      assert.equal(scope.cancelled, true);
      assert.ok(scope.reason instanceof Timeout);
      assert.equal(scope.reason.timeoutMs, 0);
      assert.equal(scope.deadlineHit, true);
    }
  });

  it('a move-on scope whose deadline is already past resolves run() to undefined without calling fn', async () => {
    const scope = new CancelScope({ timeoutMs: 0, onDeadline: 'move-on' });
    let called = false;
    const value = await scope.run(async () => {
      called = true;
      return 1;
    });
    assert.equal(value, undefined);
    assert.equal(called, false);
    assert.equal(scope.movedOn, true);
  });

  it('a non-finite deadline is refused with a RangeError naming the scope and the value', () => {
    assert.throws(() => new CancelScope({ name: 'soak', timeoutMs: Number.NaN }), /soak: deadline must be a finite number of ms, got NaN/);
    assert.throws(() => new CancelScope({ name: 'soak', timeoutMs: Infinity }), RangeError);
  });

  it('fail-after: when the deadline passes the signal fires with Timeout and run() rejects with it', async () => {
    const scope = new CancelScope({ name: 'ramp', timeoutMs: 15 });
    let sawSignal: unknown;
    const err = await rejection(
      scope.run(async (s) => {
        await sleep(10_000, s.signal).catch((e) => {
          sawSignal = e;
          throw e;
        });
      }),
    );
    assert.ok(err instanceof Timeout);
    assert.equal(err.timeoutMs, 15);
    assert.equal(sawSignal, err);
    assert.equal(scope.deadlineHit, true);
    assert.equal(scope.movedOn, false);
  });

  it('move-on-after ends quietly; fail-after rejects with Timeout', async () => {
    const quiet = new CancelScope({ timeoutMs: 10, onDeadline: 'move-on' });
    const loud = new CancelScope({ timeoutMs: 10, onDeadline: 'fail' });
    const never = () => new Promise<number>(() => undefined);
    const [moved, failed] = await Promise.allSettled([quiet.run(never), loud.run(never)]);
    assert.deepEqual(moved, { status: 'fulfilled', value: undefined });
    assert.equal(quiet.movedOn, true);
    assert.equal(quiet.reason?.kind, 'timeout');
    assert.equal(failed.status, 'rejected');
    assert.ok((failed as PromiseRejectedResult).reason instanceof Timeout);
  });

  it("a parent's cancellation is never swallowed by a child's move-on deadline", async () => {
    const parent = new CancelScope();
    const child = parent.child({ timeoutMs: 10_000, onDeadline: 'move-on' });
    const p = child.run(() => new Promise(() => undefined));
    const reason = new EStop('panel');
    parent.cancel(reason);
    assert.equal(await rejection(p), reason);
    assert.equal(child.movedOn, false);
    assert.equal(child.deadlineHit, false);
  });

  it("a parent's deadline reaches a move-on child as a rejection, not a quiet end", async () => {
    const parent = new CancelScope({ timeoutMs: 10 });
    const child = parent.child({ timeoutMs: 10_000, onDeadline: 'move-on' });
    const err = await rejection(child.run(() => new Promise(() => undefined)));
    assert.ok(err instanceof Timeout);
    assert.equal(child.movedOn, false);
    assert.equal(parent.deadlineHit, true);
  });

  it("run() rejects with the reason as soon as the scope fires, even if fn has not settled, and fn's signal has fired", async () => {
    const scope = new CancelScope();
    let inner: AbortSignal | undefined;
    let release!: () => void;
    const p = scope.run(async (s) => {
      inner = s.signal;
      await new Promise<void>((r) => (release = r)); // ignores its signal
      return 'late';
    });
    const reason = new Cancelled('operator');
    scope.cancel(reason);
    assert.equal(await rejection(p), reason);
    assert.equal(inner?.aborted, true);
    release();
  });

  it('run() resolves with what fn resolves and rejects with what fn throws', async () => {
    assert.equal(await new CancelScope().run(async () => 42), 42);
    const boom = new Error('boom');
    assert.equal(await rejection(new CancelScope().run(async () => { throw boom; })), boom);
  });

  it('run() on an already cancelled scope rejects with its reason without calling fn', async () => {
    const scope = new CancelScope();
    const reason = new Cancelled('x');
    scope.cancel(reason);
    let called = false;
    assert.equal(await rejection(scope.run(async () => { called = true; })), reason);
    assert.equal(called, false);
  });

  it('run() closes the scope: afterwards its parent forgets it and its deadline no longer fires', async () => {
    const parent = new CancelScope();
    const child = parent.child({ timeoutMs: 15 });
    await child.run(async () => 'done');
    parent.cancel();
    await sleep(30);
    assert.equal(child.cancelled, false);
  });

  it('close() ends the scope without cancelling it; its timer stops and its parent forgets it', async () => {
    const parent = new CancelScope();
    const child = parent.child({ timeoutMs: 15 });
    child.close();
    child.close(); // idempotent
    await sleep(30);
    assert.equal(child.cancelled, false);
    parent.cancel();
    assert.equal(child.cancelled, false);
    assert.equal(parent.cancelled, true);
  });

  it('throwIfCancelled is a checkpoint: silent before, throws the reason after', () => {
    const scope = new CancelScope();
    scope.throwIfCancelled();
    const reason = new EStop('panel');
    scope.cancel(reason);
    assert.throws(() => scope.throwIfCancelled(), (e) => e === reason);
  });

  it('many operations listening on one scope signal is normal, not a leak warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const scope = new CancelScope();
      for (let i = 0; i < 50; i++) scope.signal.addEventListener('abort', () => undefined);
      await tick();
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning'), []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('abortable', () => {
  it('settles with the promise while the signal has not fired, and removes its listener', async () => {
    const ac = new AbortController();
    assert.equal(await abortable(ac.signal, Promise.resolve('value')), 'value');
    const boom = new Error('boom');
    assert.equal(await rejection(abortable(ac.signal, Promise.reject(boom))), boom);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  it('rejects at once with the reason when the signal fires, calls onAbort with it, and removes its listener', async () => {
    const ac = new AbortController();
    const told: unknown[] = [];
    const p = abortable(ac.signal, new Promise(() => undefined), (r) => told.push(r));
    const reason = new Cancelled('operator');
    ac.abort(reason);
    assert.deepEqual(told, [reason]);
    assert.equal(await rejection(p), reason);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  it('an awaiting operation resumes within one event-loop turn of the signal firing', async () => {
    const ac = new AbortController();
    const order: string[] = [];
    const awaiting = (async () => {
      try {
        await abortable(ac.signal, new Promise(() => undefined));
      } catch (err) {
        order.push(`resumed with ${(err as Cancellation).kind}`);
      }
    })();
    await tick();
    setImmediate(() => order.push('next turn'));
    ac.abort(new EStop('panel'));
    await awaiting;
    await tick();
    assert.deepEqual(order, ['resumed with estop', 'next turn']);
  });

  it('an already aborted signal rejects immediately and still calls onAbort', async () => {
    const ac = new AbortController();
    const reason = new Timeout('x', 1);
    ac.abort(reason);
    const told: unknown[] = [];
    const p = abortable(ac.signal, Promise.reject(new Error('late failure, must not surface')), (r) => told.push(r));
    assert.deepEqual(told, [reason]);
    assert.equal(await rejection(p), reason);
  });

  it('a late rejection of the abandoned promise is not an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on('unhandledRejection', onUnhandled);
    try {
      const ac = new AbortController();
      let fail!: (e: Error) => void;
      const p = abortable(ac.signal, new Promise((_, reject) => (fail = reject)));
      ac.abort(new Cancelled());
      await rejection(p);
      fail(new Error('device answered late'));
      await tick();
      await tick();
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('shielded', () => {
  it('a shielded cleanup still runs under cancellation but is cut off by its own timeout', async () => {
    const run = new CancelScope({ name: 'run' });
    const log: string[] = [];
    const p = run.run(async () => {
      try {
        await sleep(10_000, run.signal);
      } finally {
        await shielded('retract', 500, async (scope) => {
          await sleep(10, scope.signal);
          log.push(`retracted, shield cancelled=${scope.cancelled}`);
        });
        await shielded('home', 20, async () => {
          await new Promise(() => undefined); // ignores its signal
        }).catch((e) => log.push(`home: ${(e as Error).name} ${(e as Timeout).timeoutMs}`));
      }
    });
    run.cancel(new EStop('panel'));
    await rejection(p);
    await sleep(60);
    assert.deepEqual(log, ['retracted, shield cancelled=false', 'home: Timeout 20']);
  });

  it('no outer cancellation reaches a shield, not even an emergency stop of the whole cell', async () => {
    const cell = new CancelScope({ name: 'cell' });
    const run = cell.child({ name: 'run' });
    let shieldSignal: AbortSignal | undefined;
    const cleanup = shielded('safe', 1000, async (scope) => {
      shieldSignal = scope.signal;
      await sleep(20, scope.signal);
      return 'safe';
    });
    cell.cancel(new EStop('panel'));
    assert.equal(run.cancelled, true);
    assert.equal(await cleanup, 'safe');
    assert.equal(shieldSignal?.aborted, false);
  });

  it('a shield without a finite positive bound is refused', async () => {
    for (const ms of [0, -1, Infinity, Number.NaN]) {
      const err = await rejection(shielded('cleanup', ms, async () => 'x'));
      assert.ok(err instanceof RangeError);
      assert.match((err as Error).message, /cleanup: a shielded cleanup needs a finite positive timeout/);
    }
  });
});

describe('sleep', () => {
  it('resolves after the delay without a signal or with a quiet one', async () => {
    const ac = new AbortController();
    await sleep(5);
    await sleep(5, ac.signal);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
  });

  it('ends early, rejecting with the signal reason; an aborted signal rejects at once', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    const reason = new Cancelled('x');
    ac.abort(reason);
    assert.equal(await rejection(p), reason);
    assert.equal(await rejection(sleep(10_000, ac.signal)), reason);
  });
});
