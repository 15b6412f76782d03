import assert from 'node:assert/strict';
import { Cancelled, CommandQueue, EStop, sleep } from '../../lib';
import { rejection, tick, until } from './helpers';

/** A job that logs its start and end and can be finished from outside. */
function job(log: string[], label: string) {
  let finish!: (v: string) => void;
  let started = false;
  const fn = (signal: AbortSignal) => {
    started = true;
    log.push(`start ${label}`);
    return new Promise<string>((resolve) => {
      finish = (v) => {
        log.push(`end ${label}`);
        resolve(v);
      };
      void signal;
    });
  };
  return { fn, finish: (v = label) => finish(v), get started() { return started; } };
}

describe('CommandQueue', () => {
  it('runs one operation at a time, in arrival order', async () => {
    const q = new CommandQueue('dev');
    const log: string[] = [];
    const signal = new AbortController().signal;
    const a = job(log, 'a');
    const b = job(log, 'b');
    const c = job(log, 'c');
    const pa = q.run('a', signal, a.fn);
    const pb = q.run('b', signal, b.fn);
    const pc = q.run('c', signal, c.fn);
    assert.deepEqual([q.busy, q.current, q.waiting], [true, 'a', 2]);
    a.finish();
    await tick();
    b.finish();
    await tick();
    c.finish();
    assert.deepEqual(await Promise.all([pa, pb, pc]), ['a', 'b', 'c']);
    assert.deepEqual(log, ['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    assert.deepEqual([q.busy, q.current, q.waiting], [false, undefined, 0]);
  });

  it('a queued operation whose signal fires is never performed and rejects at once with the reason', async () => {
    const q = new CommandQueue('dev');
    const log: string[] = [];
    const first = job(log, 'first');
    const queued = job(log, 'queued');
    const ac = new AbortController();
    const p1 = q.run('first', new AbortController().signal, first.fn);
    const p2 = q.run('queued', ac.signal, queued.fn);
    const reason = new Cancelled('operator');
    ac.abort(reason);
    assert.equal(q.waiting, 0);
    assert.equal(await rejection(p2), reason);
    first.finish();
    await p1;
    await tick();
    assert.equal(queued.started, false);
    assert.deepEqual(log, ['start first', 'end first']);
  });

  it('an already aborted signal is refused without queueing anything', async () => {
    const q = new CommandQueue('dev');
    const ac = new AbortController();
    const reason = new Cancelled();
    ac.abort(reason);
    let called = false;
    assert.equal(await rejection(q.run('x', ac.signal, async () => { called = true; })), reason);
    assert.equal(called, false);
    assert.equal(q.busy, false);
  });

  it('a running operation whose signal fires rejects at once, onAbort tells the driver, and the next starts only when it has settled', async () => {
    const q = new CommandQueue('dev');
    const log: string[] = [];
    const ac = new AbortController();
    let settleAborted!: () => void;
    const p1 = q.run(
      'move',
      ac.signal,
      (signal) =>
        new Promise<void>((resolve) => {
          log.push('start move');
          signal.addEventListener('abort', () => log.push('move saw abort'));
          settleAborted = () => {
            log.push('move settled');
            resolve();
          };
        }),
      (reason) => log.push(`onAbort ${(reason as Cancelled).kind}`),
    );
    const next = job(log, 'next');
    const p2 = q.run('next', new AbortController().signal, next.fn);
    ac.abort(new Cancelled('operator'));
    const err = await rejection(p1);
    assert.ok(err instanceof Cancelled);
    await tick();
    assert.equal(next.started, false, 'two operations never overlap on the wire');
    settleAborted();
    await until(() => next.started, 'the next job');
    next.finish();
    await p2;
    assert.deepEqual(log, ['start move', 'move saw abort', 'onAbort cancelled', 'move settled', 'start next', 'end next']);
  });

  it('after abortGraceMs the next operation starts even if the aborted one never settles', async () => {
    const q = new CommandQueue('dev', 20);
    const log: string[] = [];
    const ac = new AbortController();
    const p1 = q.run('stuck', ac.signal, () => new Promise<void>(() => undefined));
    const next = job(log, 'next');
    const p2 = q.run('next', new AbortController().signal, next.fn);
    ac.abort(new Cancelled());
    await rejection(p1);
    await sleep(5);
    assert.equal(next.started, false);
    await until(() => next.started, 'the grace period to pass');
    next.finish();
    assert.equal(await p2, 'next');
  });

  it('abortAll (the priority lane) rejects the running and every waiting operation with the reason; waiting ones never run', async () => {
    const q = new CommandQueue('dev');
    const log: string[] = [];
    const signal = new AbortController().signal;
    const aborted: string[] = [];
    const a = q.run('a', signal, (s) => sleep(60_000, s), () => aborted.push('a'));
    const b = job(log, 'b');
    const pb = q.run('b', signal, b.fn, () => aborted.push('b'));
    const reason = new EStop('panel');
    q.abortAll(reason);
    assert.equal(q.waiting, 0);
    assert.deepEqual(await Promise.all([rejection(a), rejection(pb)]), [reason, reason]);
    assert.deepEqual(aborted, ['a'], 'only the running job needs its device told');
    await tick();
    assert.equal(b.started, false);
    assert.equal(q.busy, false);
  });

  it('the function receives a signal that fires on abortAll, though the caller signal never fired', async () => {
    const q = new CommandQueue('dev');
    let inner: AbortSignal | undefined;
    const caller = new AbortController();
    const p = q.run('x', caller.signal, (s) => {
      inner = s;
      return sleep(60_000, s);
    });
    q.abortAll(new EStop('panel'));
    await rejection(p);
    assert.equal(inner?.aborted, true);
    assert.equal(caller.signal.aborted, false);
  });

  it('an operation that throws synchronously rejects and the queue goes on', async () => {
    const q = new CommandQueue('dev');
    const boom = new Error('bad frame');
    const p1 = q.run('bad', new AbortController().signal, () => {
      throw boom;
    });
    const p2 = q.run('good', new AbortController().signal, async () => 'ok');
    assert.equal(await rejection(p1), boom);
    assert.equal(await p2, 'ok');
  });
});
