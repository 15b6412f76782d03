import assert from 'node:assert/strict';
import { CancelScope, Cancelled, EStop, Failed, Run, RunResult, Timeout, WorkcellError, newRunId, sleep } from '../../lib';
import { TestDevice, rejection, tick, until } from './helpers';

function collect(run: Run): RunResult[] {
  const ends: RunResult[] = [];
  run.on('end', (r: RunResult) => ends.push(r));
  return ends;
}

describe('Run', () => {
  it('has a server-issued id: unique, time-ordered prefix, never taken from outside', () => {
    const ids = new Set(Array.from({ length: 200 }, () => newRunId()));
    assert.equal(ids.size, 200);
    for (const id of ids) assert.match(id, /^[0-9a-z]+-[0-9a-f]{10}$/);
    const a = new Run({ sequence: 's', parent: new CancelScope() });
    const b = new Run({ sequence: 's', parent: new CancelScope() });
    assert.notEqual(a.id, b.id);
  });

  it('its scope nests in the parent given and is named after the run', () => {
    const cell = new CancelScope({ name: 'cell' });
    const run = new Run({ sequence: 'bake', parent: cell });
    assert.equal(run.scope.parent, cell);
    assert.equal(run.scope.name, `run ${run.id}`);
    assert.equal(run.policy, 'fail-run');
  });

  it('a completed run ends once with a plain-data record: step, no error, timings', async () => {
    const run = new Run({ sequence: 'bake', parent: new CancelScope() });
    const ends = collect(run);
    assert.equal(await run.runStep('heat', async () => 'hot'), 'hot');
    run.enter('report');
    run.complete();
    run.complete();
    assert.equal(ends.length, 1);
    const r = ends[0];
    assert.deepEqual(
      { outcome: r.outcome, run: r.run, sequence: r.sequence, step: r.step, error: r.error, source: r.source, branchErrors: r.branchErrors },
      { outcome: 'completed', run: run.id, sequence: 'bake', step: 'report', error: null, source: null, branchErrors: [] },
    );
    assert.ok(r.endedAt >= r.startedAt && r.durationMs >= 0);
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r, 'the record survives message cloning');
    assert.equal(run.result, r);
    assert.equal(run.ended, true);
  });

  it('complete() waits for the steps in flight: a run never completes with work still running in it', async () => {
    const run = new Run({ sequence: 's', parent: new CancelScope() });
    const ends = collect(run);
    let finish!: () => void;
    const step = run.runStep('slow', () => new Promise<void>((r) => (finish = r)));
    assert.equal(run.activeSteps, 1);
    run.complete();
    await tick();
    assert.equal(ends.length, 0);
    finish();
    await step;
    assert.equal(run.activeSteps, 0);
    assert.deepEqual(ends.map((e) => e.outcome), ['completed']);
  });

  it('a run cancelled mid-step ends once as cancelled and its in-flight operation is told to stop', async () => {
    const device = new TestDevice('arm');
    const run = new Run({ sequence: 'pick', parent: new CancelScope() });
    const ends = collect(run);
    const step = run.runStep('move', (signal) => device.execute('move', { position: 10, ms: 60_000 }, { signal, runId: run.id }));
    await until(() => device.log.some((e) => e.what === 'perform'), 'the move to start');
    run.cancel(new Cancelled('operator'));
    const err = await rejection(step);
    assert.ok(err instanceof Cancelled);
    assert.deepEqual(device.log.map((e) => `${e.what}${e.op ? ' ' + e.op : ''}`), ['perform move', 'abort-op move']);
    await tick();
    assert.equal(ends.length, 1);
    assert.deepEqual({ outcome: ends[0].outcome, step: ends[0].step, source: ends[0].source }, { outcome: 'cancelled', step: 'move', source: 'operator' });
  });

  it('cancel() without a reason ends the run cancelled', () => {
    const run = new Run({ sequence: 's', parent: new CancelScope() });
    run.cancel();
    assert.equal(run.result?.outcome, 'cancelled');
  });

  it('a run ends exactly once even when cancelled and failed at the same time', async () => {
    const run = new Run({ sequence: 's', parent: new CancelScope() });
    const ends = collect(run);
    const a = run.runStep('a', async () => {
      throw new Error('a broke');
    });
    run.cancel(new Cancelled('operator'));
    run.fail(new Error('late'));
    run.complete();
    await rejection(a);
    await tick();
    assert.equal(ends.length, 1);
    assert.equal(ends[0].outcome, 'cancelled');
  });

  it('an emergency stop of the parent ends the run aborted, naming who tripped it', async () => {
    const cell = new CancelScope();
    const run = new Run({ sequence: 's', parent: cell });
    const step = run.runStep('wait', (signal) => sleep(60_000, signal));
    cell.cancel(new EStop('panel button'));
    assert.ok((await rejection(step)) instanceof EStop);
    assert.deepEqual([run.result?.outcome, run.result?.source, run.result?.step], ['aborted', 'panel button', 'wait']);
  });

  it('each reason maps to its outcome: EStop → aborted, Cancelled → cancelled, Timeout → timed-out, Failed → failed', () => {
    const cases: [Run['scope']['reason'], string][] = [
      [new EStop('x'), 'aborted'],
      [new Cancelled('x'), 'cancelled'],
      [new Timeout('x', 1), 'timed-out'],
      [new Failed(new Error('boom'), 'x'), 'failed'],
    ];
    for (const [reason, outcome] of cases) {
      const run = new Run({ sequence: 's', parent: new CancelScope() });
      run.scope.cancel(reason);
      assert.equal(run.result?.outcome, outcome);
    }
  });

  it('a run deadline ends it timed-out, cancelling the step in flight', async () => {
    const run = new Run({ sequence: 'soak', parent: new CancelScope(), timeoutMs: 15 });
    const ends = collect(run);
    const err = await rejection(run.runStep('soak', (signal) => sleep(60_000, signal)));
    assert.ok(err instanceof Timeout);
    assert.equal(ends.length, 1);
    assert.deepEqual([ends[0].outcome, ends[0].step], ['timed-out', 'soak']);
    assert.match(ends[0].error ?? '', /timed out after 15 ms/);
  });

  it('a run with a deadline already past is born timed-out and cannot be completed', async () => {
    const run = new Run({ sequence: 's', parent: new CancelScope(), timeoutMs: 0 });
    const ends = collect(run);
    run.complete();
    await tick();
    assert.deepEqual(ends.map((e) => e.outcome), ['timed-out']);
  });

  it('a run born under an aborted cell ends aborted, once, after its listeners are attached', async () => {
    const cell = new CancelScope();
    cell.cancel(new EStop('panel'));
    const run = new Run({ sequence: 's', parent: cell });
    const ends = collect(run);
    await tick();
    assert.deepEqual(ends.map((e) => e.outcome), ['aborted']);
    assert.ok((await rejection(run.runStep('x', async () => 1))) instanceof EStop);
  });

  it("a step's own error fails the run (fail-run) with the failing step and the error", async () => {
    const run = new Run({ sequence: 's', parent: new CancelScope() });
    const ends = collect(run);
    const boom = new Error('pressure too high');
    assert.equal(await rejection(run.runStep('press', async () => { throw boom; })), boom);
    assert.equal(ends.length, 1);
    assert.deepEqual([ends[0].outcome, ends[0].step, ends[0].error], ['failed', 'press', 'pressure too high']);
    assert.equal(run.failure, boom);
  });

  it('a parallel branch failing cancels its siblings (their in-flight operations are told to stop) and fails the run', async () => {
    const arm = new TestDevice('arm');
    const run = new Run({ sequence: 's', parent: new CancelScope() });
    const ends = collect(run);
    const sibling = run.runStep('move arm', (signal) => arm.execute('move', { position: 5, ms: 60_000 }, { signal, runId: run.id }));
    await until(() => arm.log.length > 0, 'the arm to move');
    run.enter('later step');
    const failing = run.runStep('read sensor', async () => {
      await sleep(2);
      throw new Error('sensor offline');
    });
    const [siblingErr, failingErr] = await Promise.all([rejection(sibling), rejection(failing)]);
    assert.ok(siblingErr instanceof Failed);
    assert.equal((failingErr as Error).message, 'sensor offline');
    assert.deepEqual(arm.log.map((e) => e.what), ['perform', 'abort-op']);
    assert.equal(ends.length, 1);
    assert.deepEqual([ends[0].outcome, ends[0].step, ends[0].error], ['failed', 'read sensor', 'sensor offline']);
  });

  it('report-only branch policy: the error is recorded in branchErrors and the run goes on to complete', async () => {
    const run = new Run({ sequence: 's', parent: new CancelScope(), policy: 'report-only' });
    const ends = collect(run);
    const reported: unknown[] = [];
    run.on('branch-error', (e) => reported.push(e));
    let siblingDone = false;
    const sibling = run.runStep('sibling', async (signal) => {
      await sleep(10, signal);
      siblingDone = true;
    });
    await rejection(run.runStep('flaky', async () => { throw new Error('no reading'); }));
    await sibling;
    run.complete();
    assert.equal(siblingDone, true);
    assert.equal(reported.length, 1);
    assert.deepEqual([ends[0].outcome, ends[0].branchErrors], ['completed', [{ step: 'flaky', error: 'no reading' }]]);
  });

  it("a step's own fail-after deadline ends the run timed-out, not failed", async () => {
    const run = new Run({ sequence: 's', parent: new CancelScope() });
    const err = await rejection(
      run.runStep('wait for temperature', (signal) => {
        const own = new CancelScope({ name: 'wait for temperature', timeoutMs: 5 });
        return own.run(() => sleep(60_000, AbortSignal.any([signal, own.signal])));
      }),
    );
    assert.ok(err instanceof Timeout);
    assert.deepEqual([run.result?.outcome, run.result?.step], ['timed-out', 'wait for temperature']);
  });

  it('once ended, a run refuses further steps with the reason it ended with', async () => {
    const cancelled = new Run({ sequence: 's', parent: new CancelScope() });
    const reason = new Cancelled('operator');
    cancelled.cancel(reason);
    let ran = false;
    assert.equal(await rejection(cancelled.runStep('x', async () => { ran = true; })), reason);
    assert.throws(() => cancelled.enter('y'), (e) => e === reason);
    assert.equal(ran, false);

    const completed = new Run({ sequence: 'bake', parent: new CancelScope() });
    completed.complete();
    const err = await rejection(completed.runStep('x', async () => 1));
    assert.ok(err instanceof WorkcellError);
    assert.equal(err.code, 'run-ended');
    assert.match(err.message, /sequence "bake" has already ended \(completed\)/);
  });

  it('fail() and cancel() after the end change nothing', () => {
    const run = new Run({ sequence: 's', parent: new CancelScope() });
    const ends = collect(run);
    run.complete();
    run.fail(new Error('late'));
    run.cancel();
    assert.deepEqual(ends.map((e) => e.outcome), ['completed']);
    assert.equal(run.failure, undefined);
  });

  it('a completed run has left its parent: a later emergency stop of the cell does not touch it', () => {
    const cell = new CancelScope();
    const run = new Run({ sequence: 's', parent: cell });
    run.complete();
    cell.cancel(new EStop('panel'));
    assert.equal(run.scope.cancelled, false);
    assert.equal(run.result?.outcome, 'completed');
  });
});
