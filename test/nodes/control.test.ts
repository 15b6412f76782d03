import assert from 'node:assert/strict';
import { helper, controlNodes, Received, baseFlow, delay } from '../support/flow-harness';
import memoryNodes from '../support/memory-nodes';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { LogRecorder } from '../support/node-red-log';
import { until } from '../support/event-order';

const devices = memoryNodes.devices;

/** Resolves once dev1 has begun its operation (the step is in flight). */
const performing = () => until(() => devices.get('dev1')?.log.some((e) => e.what === 'perform') === true, 'dev1 to begin its operation');

/** A sequence → memory move → sequence end flow, plus outcome and error collectors. */
function sequenceFlow(opts: { moveMs?: number; timeout?: string; concurrency?: string; extra?: object[] } = {}): object[] {
  return baseFlow([
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: opts.concurrency ?? 'reject', timeout: opts.timeout ?? '', wires: [['move'], ['outcome']] },
    { id: 'move', type: 'workcell-memory', z: 't1', name: 'move', device: 'd1', operation: 'move', params: { position: 5, ms: opts.moveMs ?? 20 }, wires: [['end', 'after']] },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'after', type: 'helper', z: 't1' },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'stop', type: 'workcell-estop', z: 't1', name: 'E-stop', cell: 'cell', action: 'estop', wires: [['stopped']] },
    { id: 'stopped', type: 'helper', z: 't1' },
    ...(opts.extra ?? []),
  ]);
}

describe('control nodes', function () {
  beforeEach(() => devices.clear());
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('a sequence runs its steps and emits its outcome once as completed', async () => {
    await helper.load(controlNodes, sequenceFlow());
    const outcome = new Received(helper.getNode('outcome'));
    const after = new Received(helper.getNode('after'));
    helper.getNode('seq').receive({ payload: 'go', topic: 'job' });
    const o = await outcome.nth(1);
    const payload = o.payload as Record<string, unknown>;
    assert.equal(payload.outcome, 'completed');
    assert.equal(typeof payload.run, 'string');
    assert.equal(payload.error, null);
    assert.ok((payload.durationMs as number) >= 0);
    assert.deepEqual((await after.nth(1)).payload, { position: 5 });
    assert.equal((after.messages[0].workcell as { run: string }).run, payload.run);
    await delay(50);
    assert.equal(outcome.messages.length, 1, 'the outcome is emitted exactly once');
    assert.equal(devices.get('dev1')!.position, 5);
  });

  it('an emergency stop mid-step ends the run aborted, stops the device before its safe routine, and latches the cell', async () => {
    await helper.load(controlNodes, sequenceFlow({ moveMs: 5000 }));
    const outcome = new Received(helper.getNode('outcome'));
    const stopped = new Received(helper.getNode('stopped'));
    helper.getNode('seq').receive({ payload: 'go' });
    await performing();
    helper.getNode('stop').receive({ payload: 'trip' });
    const o = (await outcome.nth(1)).payload as Record<string, unknown>;
    assert.equal(o.outcome, 'aborted');
    assert.equal(o.step, 'move', 'the step is named by the node name');
    const report = ((await stopped.nth(1)).payload as { report: { devices: { device: string; stop: string; safe: string }[] } }).report;
    assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['dev1', 'stopped', 'safe']]);
    const log = devices.get('dev1')!.log.map((e) => e.what);
    assert.ok(log.indexOf('stop') < log.indexOf('safe'), `stop before safe: ${log.join(',')}`);
    assert.equal(devices.get('dev1')!.position, 0, 'the move did not complete');
    assert.equal(getCell('cell')!.state, 'aborted');
  });

  it('a new run is refused with a clear error while the cell is aborted, and reset re-enables it', async () => {
    await helper.load(controlNodes, sequenceFlow({ extra: [{ id: 'reset', type: 'workcell-estop', z: 't1', cell: 'cell', action: 'reset', wires: [['resetOut']] }, { id: 'resetOut', type: 'helper', z: 't1' }] }));
    const caught = new Received(helper.getNode('caught'));
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('stop').receive({});
    await until(() => getCell('cell')!.state === 'aborted', 'the cell to be aborted');
    helper.getNode('seq').receive({ payload: 'go' });
    const err = (await caught.nth(1)).error as { message: string; source: { id: string } };
    assert.match(err.message, /cannot start sequence "Seq": cell "Cell A" is aborted/);
    assert.equal(err.source.id, 'seq');
    helper.getNode('reset').receive({});
    await new Received(helper.getNode('resetOut')).nth(1);
    assert.equal(getCell('cell')!.state, 'ready');
    helper.getNode('seq').receive({ payload: 'go' });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
  });

  it('reset is refused while a trip source is still active, naming it, and the error reaches Catch nodes', async () => {
    await helper.load(controlNodes, sequenceFlow());
    const caught = new Received(helper.getNode('caught'));
    await getCell('cell')!.setTripSource('mqtt:cell/estop', true, 'remote E-stop asserted');
    helper.getNode('stop').receive({ action: 'reset' });
    const err = (await caught.nth(1)).error as { message: string };
    assert.match(err.message, /trip source mqtt:cell\/estop is still active \(remote E-stop asserted\)/);
    assert.equal(getCell('cell')!.state, 'aborted');
  });

  it('hold stops a message at the next checkpoint and resume releases it', async () => {
    await helper.load(controlNodes, sequenceFlow());
    const after = new Received(helper.getNode('after'));
    helper.getNode('stop').receive({ action: 'hold' });
    await until(() => getCell('cell')!.state === 'held', 'the cell to be held');
    assert.equal(getCell('cell')!.state, 'held');
    helper.getNode('seq').receive({ payload: 'go' });
    await delay(100);
    assert.equal(after.messages.length, 0, 'nothing passes a checkpoint while held');
    assert.equal(devices.get('dev1')!.log.filter((e) => e.what === 'perform').length, 0);
    helper.getNode('stop').receive({ action: 'resume' });
    await after.nth(1);
  });

  it('cancel by message cancels one run: outcome cancelled, its device told to stop, then made safe', async () => {
    await helper.load(controlNodes, sequenceFlow({ moveMs: 5000 }));
    const outcome = new Received(helper.getNode('outcome'));
    const stopped = new Received(helper.getNode('stopped'));
    helper.getNode('seq').receive({ payload: 'go' });
    await performing();
    const runId = getCell('cell')!.activeRuns[0].id;
    helper.getNode('stop').receive({ action: 'cancel', workcell: { run: runId, cell: 'cell' } });
    const o = (await outcome.nth(1)).payload as { outcome: string; run: string };
    assert.equal(o.outcome, 'cancelled');
    assert.equal(o.run, runId);
    const report = ((await stopped.nth(1)).payload as { report: { devices: { stop: string; safe: string }[] } }).report;
    assert.deepEqual(report.devices.map((d) => [d.stop, d.safe]), [['stopped', 'safe']]);
    assert.equal(getCell('cell')!.state, 'ready', 'cancelling a run does not latch the cell');
  });

  it('a failing parallel branch fails the run and cancels its sibling in flight', async () => {
    await helper.load(
      controlNodes,
      baseFlow(
        [
          { id: 'seq', type: 'workcell-sequence', z: 't1', cell: 'cell', wires: [['slow', 'bad'], ['outcome']] },
          { id: 'slow', type: 'workcell-memory', z: 't1', device: 'd1', operation: 'move', params: { position: 9, ms: 5000 }, wires: [['end']] },
          { id: 'bad', type: 'workcell-memory', z: 't1', device: 'd2', operation: 'fail', params: { message: 'pressure lost' }, wires: [['end']] },
          { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
          { id: 'outcome', type: 'helper', z: 't1' },
        ],
        [
          { id: 'd1', name: 'dev1' },
          { id: 'd2', name: 'dev2' },
        ],
      ),
    );
    const outcome = new Received(helper.getNode('outcome'));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq').receive({ payload: 'go' });
    const o = (await outcome.nth(1)).payload as { outcome: string; error: string; step: string };
    assert.equal(o.outcome, 'failed');
    assert.match(o.error, /pressure lost/);
    assert.equal(o.step, 'dev2: fail');
    assert.match(((await caught.nth(1)).error as { message: string }).message, /pressure lost/);
    const slow = devices.get('dev1')!;
    await until(() => slow.log.some((e) => e.what === 'abort-op'), 'the sibling move to be aborted');
    assert.ok(slow.log.some((e) => e.what === 'abort-op' && e.detail === 'failed'), 'the sibling move was told to stop');
    assert.equal(slow.position, 0);
  });

  it('a run deadline ends the run timed-out', async () => {
    await helper.load(controlNodes, sequenceFlow({ moveMs: 5000, timeout: '0.1' }));
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 'go' });
    const o = (await outcome.nth(1)).payload as { outcome: string; error: string };
    assert.equal(o.outcome, 'timed-out');
    assert.match(o.error, /timed out after 100 ms/);
  });

  it('concurrency: reject refuses a second start; queue runs them one after the other', async () => {
    await helper.load(controlNodes, sequenceFlow({ moveMs: 100 }));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq').receive({ payload: 1 });
    helper.getNode('seq').receive({ payload: 2 });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /refused a new start: run .* is still in progress/);
    await helper.unload();
    forgetLatches();
    devices.clear();
    await helper.load(controlNodes, sequenceFlow({ moveMs: 30, concurrency: 'queue' }));
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 1 });
    helper.getNode('seq').receive({ payload: 2 });
    const [a, b] = [(await outcome.nth(1)).payload as { outcome: string; startedAt: number; endedAt: number }, (await outcome.nth(2)).payload as { outcome: string; startedAt: number }];
    assert.equal(a.outcome, 'completed');
    assert.equal(b.outcome, 'completed');
    assert.ok(b.startedAt >= a.endedAt, 'the queued run started after the first ended');
  });

  it('a device step wired outside any sequence still obeys the emergency stop', async () => {
    await helper.load(controlNodes, sequenceFlow({ moveMs: 5000 }));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('move').receive({ payload: 'manual' });
    await performing();
    helper.getNode('stop').receive({});
    const err = (await caught.nth(1)).error as { message: string; source: { id: string } };
    assert.match(err.message, /emergency stop/);
    assert.equal(err.source.id, 'move');
    assert.equal(devices.get('dev1')!.position, 0);
  });

  it('messages of a cancelled run go no further', async () => {
    await helper.load(controlNodes, sequenceFlow({ moveMs: 5000 }));
    const after = new Received(helper.getNode('after'));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq').receive({ payload: 'go' });
    await until(() => getCell('cell')!.activeRuns.length > 0, 'the run to start');
    const runId = getCell('cell')!.activeRuns[0].id;
    await getCell('cell')!.cancelRun(runId, 'test');
    helper.getNode('move').receive({ payload: 'late', workcell: { run: runId, cell: 'cell' } });
    await delay(100);
    assert.equal(after.messages.length, 0);
    assert.equal(caught.messages.length, 0, 'a dropped message of an ended run is not an error');
  });

  it('bad messages get clear errors through Catch nodes: unknown action, wrong types, a run of another cell', async () => {
    await helper.load(
      controlNodes,
      sequenceFlow({
        extra: [
          { id: 'cell2', type: 'workcell-abort-context', name: 'Cell B' },
          { id: 'seq2', type: 'workcell-sequence', z: 't1', name: 'Other', cell: 'cell2', wires: [['hold2'], []] },
          { id: 'hold2', type: 'helper', z: 't1' },
        ],
      }),
    );
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('stop').receive({ action: 'explode' });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /unknown msg.action "explode" \(string\); expected one of estop, halt, reset, hold, resume, cancel, heartbeat/);
    helper.getNode('move').receive({ workcell: 42 });
    assert.match(((await caught.nth(2)).error as { message: string }).message, /msg.workcell must be an object like \{run: "<id>"\}, got 42 \(number\)/);
    helper.getNode('move').receive({ params: { position: 'far' } });
    assert.match(((await caught.nth(3)).error as { message: string }).message, /dev1: move: parameter "position" must be a finite number, got "far" \(string\)/);
    helper.getNode('move').receive({ params: { position: 1000 } });
    assert.match(((await caught.nth(4)).error as { message: string }).message, /parameter "position" must be at most 100 mm, got 1000/);
    const hold2 = new Received(helper.getNode('hold2'));
    helper.getNode('seq2').receive({ payload: 'other cell' });
    const foreign = await hold2.nth(1);
    helper.getNode('move').receive({ workcell: { run: (foreign.workcell as { run: string }).run } });
    assert.match(((await caught.nth(5)).error as { message: string }).message, /belongs to cell "Cell B", not to this node's cell "Cell A"/);
    assert.equal(devices.get('dev1')!.log.filter((e) => e.what === 'perform').length, 0, 'nothing reached the device');
  });

  it('a redeploy during a run ends it aborted and brings its device safe within the close timeout', async () => {
    await helper.load(controlNodes, sequenceFlow({ moveMs: 5000 }));
    const ended: { outcome: string; source: string }[] = [];
    getCell('cell')!.on('run-end', (r) => ended.push(r));
    helper.getNode('seq').receive({ payload: 'go' });
    await performing();
    const dev = devices.get('dev1')!;
    const log = new LogRecorder();
    await helper.clearFlows();
    log.stop();
    // Node-RED gives a close handler 15 s, then logs "Error stopping node: Close timed out".
    assert.deepEqual(log.errors(), [], 'every close handler finished in time');
    assert.equal(ended.length, 1);
    const o = ended[0];
    assert.equal(o.outcome, 'aborted');
    assert.match(o.source, /redeploy/);
    const happened = dev.log.map((e) => e.what);
    assert.ok(happened.includes('stop') && happened.includes('safe-done'), `stop and safe happened before the flows were gone: ${happened.join(',')}`);
  });

  it('cell status emits state changes and device health', async () => {
    await helper.load(controlNodes, sequenceFlow({ extra: [{ id: 'status', type: 'workcell-cell-status', z: 't1', cell: 'cell', wires: [['statusOut']] }, { id: 'statusOut', type: 'helper', z: 't1' }] }));
    const out = new Received(helper.getNode('statusOut'));
    helper.getNode('stop').receive({});
    await until(() => out.messages.some((m) => m.topic === 'stop-report') && out.messages.some((m) => m.topic === 'state' && (m.payload as { to: string }).to === 'aborted'), 'the stop report and the state change to aborted');
    const states = out.messages.filter((m) => m.topic === 'state').map((m) => (m.payload as { to: string }).to);
    assert.deepEqual(states, ['aborting', 'aborted']);
    assert.ok(out.messages.some((m) => m.topic === 'stop-report'));
    helper.getNode('status').receive({});
    await until(() => out.messages.some((m) => m.topic === 'snapshot'), 'the snapshot');
    const snap = out.messages.find((m) => m.topic === 'snapshot')!.payload as { state: string; devices: { device: string }[] };
    assert.equal(snap.state, 'aborted');
    assert.deepEqual(snap.devices.map((d) => d.device), ['dev1']);
  });
});
