import assert from 'node:assert/strict';
import { CancelScope, Cancelled, EStop, Failed, TaskGroup, Timeout, sleep } from '../../lib';
import { rejection, tick } from './helpers';

describe('TaskGroup', () => {
  it("the group's tasks share one scope, a child of the parent given", () => {
    const parent = new CancelScope({ name: 'run' });
    const group = new TaskGroup(parent, undefined, 'branches');
    assert.equal(group.scope.parent, parent);
    assert.equal(group.scope.name, 'branches');
    assert.equal(group.policy, 'cancel-siblings');
    const signals: AbortSignal[] = [];
    group.spawn('a', async (s) => void signals.push(s));
    group.spawn('b', async (s) => void signals.push(s));
    assert.equal(signals[0], group.scope.signal);
    assert.equal(signals[1], group.scope.signal);
  });

  it('spawn starts the task at once', () => {
    const group = new TaskGroup(new CancelScope());
    const log: string[] = [];
    group.spawn('a', async () => void log.push('a started'));
    log.push('after spawn');
    assert.deepEqual(log, ['a started', 'after spawn']);
  });

  it('wait() returns only when every task has settled', async () => {
    const group = new TaskGroup(new CancelScope());
    const done: string[] = [];
    group.spawn('slow', async () => {
      await sleep(20);
      done.push('slow');
    });
    group.spawn('fast', async () => void done.push('fast'));
    await group.wait();
    assert.deepEqual(done, ['fast', 'slow']);
  });

  it('a parallel branch failing cancels its siblings, and wait() rejects with that first error', async () => {
    const parent = new CancelScope();
    const group = new TaskGroup(parent);
    const boom = new Error('gripper jammed');
    const siblingSaw: unknown[] = [];
    group.spawn('sibling', async (signal) => {
      await sleep(10_000, signal).catch((e) => {
        siblingSaw.push(e);
        throw e;
      });
    });
    group.spawn('failing', async () => {
      await sleep(5);
      throw boom;
    });
    assert.equal(await rejection(group.wait()), boom);
    assert.equal(siblingSaw.length, 1);
    assert.ok(siblingSaw[0] instanceof Failed);
    assert.equal((siblingSaw[0] as Failed).cause, boom);
    assert.equal((siblingSaw[0] as Failed).source, 'failing');
    assert.deepEqual(group.failures, [{ task: 'failing', error: boom }]);
    assert.equal(parent.cancelled, false, "a child's failure does not cancel the parent");
  });

  it("wait() still waits for a cancelled sibling that winds down slowly (no work outlives the group)", async () => {
    const group = new TaskGroup(new CancelScope());
    const log: string[] = [];
    group.spawn('slow to stop', async (signal) => {
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => setTimeout(resolve, 15)));
      log.push('sibling wound down');
    });
    group.spawn('failing', async () => {
      throw new Error('x');
    });
    await rejection(group.wait());
    log.push('wait settled');
    assert.deepEqual(log, ['sibling wound down', 'wait settled']);
  });

  it('only the first failure decides: a later failure is recorded but wait() rejects with the first', async () => {
    const group = new TaskGroup(new CancelScope());
    const first = new Error('first');
    const second = new Error('second');
    group.spawn('one', async () => {
      throw first;
    });
    group.spawn('two', async (signal) => {
      await sleep(10_000, signal).catch(() => undefined); // swallows the cancellation...
      throw second; // ...and fails on its own while winding down
    });
    assert.equal(await rejection(group.wait()), first);
    assert.deepEqual(
      group.failures.map((f) => f.task),
      ['one', 'two'],
    );
    assert.ok(group.scope.reason instanceof Failed && group.scope.reason.cause === first);
  });

  it('report-only: failures are collected, siblings go on and wait() resolves', async () => {
    const group = new TaskGroup(new CancelScope(), 'report-only');
    const boom = new Error('sensor offline');
    let siblingFinished = false;
    group.spawn('sibling', async (signal) => {
      await sleep(15, signal);
      siblingFinished = true;
    });
    group.spawn('failing', async () => {
      throw boom;
    });
    await group.wait();
    assert.equal(siblingFinished, true);
    assert.equal(group.scope.cancelled, false);
    assert.deepEqual(group.failures, [{ task: 'failing', error: boom }]);
  });

  it('a task rejected with the cancellation is not a failure: it is how a cancelled task ends', async () => {
    const parent = new CancelScope();
    const group = new TaskGroup(parent);
    group.spawn('a', (signal) => sleep(10_000, signal));
    group.spawn('b', (signal) => sleep(10_000, signal));
    await tick();
    group.scope.cancel(new Cancelled('operator'));
    await group.wait();
    assert.deepEqual(group.failures, []);
  });

  it("a task's own deadline (a Timeout while the group is not cancelled) is a failure and cancels its siblings", async () => {
    const group = new TaskGroup(new CancelScope());
    let siblingReason: unknown;
    group.spawn('sibling', (signal) => sleep(10_000, signal).catch((e) => { siblingReason = e; throw e; }));
    group.spawn('wait for temperature', () => new CancelScope({ name: 'wait for temperature', timeoutMs: 5 }).run((s) => sleep(10_000, s.signal)));
    const err = await rejection(group.wait());
    assert.ok(err instanceof Timeout);
    assert.ok(siblingReason instanceof Failed);
    assert.deepEqual(group.failures.map((f) => f.task), ['wait for temperature']);
  });

  it("if the parent itself was cancelled, wait() rejects with the parent's reason", async () => {
    const parent = new CancelScope();
    const group = new TaskGroup(parent);
    group.spawn('a', (signal) => sleep(10_000, signal));
    const reason = new EStop('panel');
    parent.cancel(reason);
    assert.equal(await rejection(group.wait()), reason);
    assert.deepEqual(group.failures, []);
  });

  it('a task spawned into an already cancelled group never starts', async () => {
    const group = new TaskGroup(new CancelScope());
    group.scope.cancel();
    let started = false;
    group.spawn('late', async () => {
      started = true;
    });
    await group.wait();
    assert.equal(started, false);
    assert.deepEqual(group.failures, []);
  });

  it('a task that throws synchronously fails like one that rejects', async () => {
    const group = new TaskGroup(new CancelScope());
    const boom = new Error('sync');
    group.spawn('sync', () => {
      throw boom;
    });
    assert.equal(await rejection(group.wait()), boom);
  });

  it('wait() closes the group scope: a later cancellation of the parent does not reach it', async () => {
    const parent = new CancelScope();
    const group = new TaskGroup(parent);
    group.spawn('a', async () => undefined);
    await group.wait();
    parent.cancel();
    assert.equal(group.scope.cancelled, false);
  });
});
