import assert from 'node:assert/strict';
import { helper, controlNodes, Received, baseFlow, delay } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { firstOf, timePassed, until } from '../support/event-order';

/** Resolves once the run has reached the wait node's step (its message is waiting there). */
const atWaitStep = () => until(() => getCell('cell')!.activeRuns[0]?.step?.startsWith('wait') === true, 'the run to reach the wait step');

function waitFlow(wait: Record<string, unknown>, outputs = 1): object[] {
  return baseFlow([
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', wires: [['wait'], ['outcome']] },
    { id: 'wait', type: 'workcell-wait', z: 't1', cell: 'cell', ...wait, wires: outputs === 2 ? [['end', 'passed'], ['late']] : [['end', 'passed']] },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'passed', type: 'helper', z: 't1' },
    { id: 'late', type: 'helper', z: 't1' },
    { id: 'outcome', type: 'helper', z: 't1' },
  ]);
}

describe('wait node', function () {
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('a delay passes the message on after the configured time, inside the run', async () => {
    await helper.load(controlNodes, waitFlow({ mode: 'delay', delay: '40', units: 'ms' }));
    const passed = new Received(helper.getNode('passed'));
    const outcome = new Received(helper.getNode('outcome'));
    const t = Date.now();
    helper.getNode('seq').receive({ payload: 1 });
    await passed.nth(1);
    assert.ok(Date.now() - t >= 35);
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
  });

  it('an emergency stop cuts a delay short and the run ends aborted at the wait step', async () => {
    await helper.load(controlNodes, waitFlow({ mode: 'delay', delay: '10', units: 's' }));
    const passed = new Received(helper.getNode('passed'));
    const outcome = new Received(helper.getNode('outcome'));
    const delayOver = timePassed(10_000);
    helper.getNode('seq').receive({ payload: 1 });
    await atWaitStep();
    await getCell('cell')!.estop('test');
    assert.equal(await firstOf({ outcome: outcome.nth(1, 15_000), 'the 10 s delay over': delayOver }), 'outcome', 'the outcome came before the delay would have ended');
    const o = (await outcome.nth(1)).payload as { outcome: string; step: string };
    assert.equal(o.outcome, 'aborted');
    assert.equal(o.step, 'wait 10 s', 'an unnamed wait is named by its delay');
    await delay(20);
    assert.equal(passed.messages.length, 0);
  });

  it('msg.delay overrides the configured delay and a wrong type is a clear error', async () => {
    await helper.load(controlNodes, waitFlow({ mode: 'delay', delay: '10', units: 's' }));
    const passed = new Received(helper.getNode('passed'));
    const caught = new Received(helper.getNode('caught'));
    const configuredDelayOver = timePassed(10_000);
    helper.getNode('seq').receive({ payload: 1, delay: 5 });
    assert.equal(await firstOf({ passed: passed.nth(1, 15_000), 'the configured 10 s': configuredDelayOver }), 'passed', 'msg.delay (5 ms) applied, not the configured 10 s');
    helper.getNode('seq').receive({ payload: 2, delay: 'soon' });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /msg.delay must be a number of milliseconds between 0 and 86400000, got "soon" \(string\)/);
  });

  it('wait until releases waiting messages when a condition message makes the condition hold', async () => {
    await helper.load(controlNodes, waitFlow({ mode: 'until', source: 'msg', property: 'payload', operator: 'gt', value: '100', valueType: 'num', topic: 'temperature' }));
    const passed = new Received(helper.getNode('passed'));
    helper.getNode('seq').receive({ payload: 'heat' });
    await atWaitStep();
    helper.getNode('wait').receive({ topic: 'temperature', payload: 80 });
    await delay(20);
    assert.equal(passed.messages.length, 0, 'still below the threshold');
    helper.getNode('wait').receive({ topic: 'temperature', payload: 120 });
    assert.equal((await passed.nth(1)).payload, 'heat');
  });

  it('wait until on flow context is polled and obeys hold before sending', async () => {
    await helper.load(controlNodes, waitFlow({ mode: 'until', source: 'flow', property: 'doorClosed', operator: 'true', poll: '10' }));
    const passed = new Received(helper.getNode('passed'));
    helper.getNode('seq').receive({ payload: 'go' });
    await atWaitStep();
    await getCell('cell')!.hold('test');
    helper.getNode('wait').context().flow.set('doorClosed', true);
    await delay(60);
    assert.equal(passed.messages.length, 0, 'held: the message waits before moving on');
    await getCell('cell')!.resume('test');
    await passed.nth(1);
  });

  it('a wait-until timeout fails the run as timed-out, or moves on to output 2 when configured', async () => {
    await helper.load(controlNodes, waitFlow({ mode: 'until', source: 'msg', property: 'payload', operator: 'true', timeout: '0.05' }));
    const outcome = new Received(helper.getNode('outcome'));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq').receive({ payload: 'go' });
    const o = (await outcome.nth(1)).payload as { outcome: string; error: string };
    assert.equal(o.outcome, 'timed-out');
    assert.match(o.error, /timed out after 50 ms/);
    assert.match(((await caught.nth(1)).error as { message: string }).message, /timed out after 50 ms/);
    await helper.unload();
    await helper.load(controlNodes, waitFlow({ mode: 'until', source: 'msg', property: 'payload', operator: 'true', timeout: '0.05', onTimeout: 'output' }, 2));
    const late = new Received(helper.getNode('late'));
    const outcome2 = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 'go' });
    assert.equal((await late.nth(1)).payload, 'go');
    assert.equal(getCell('cell')!.activeRuns.length, 1, 'the run goes on: the flow decides what happens next');
    assert.equal(outcome2.messages.length, 0);
  });
});
