import assert from 'node:assert/strict';
import { helper, controlNodes, Received, baseFlow, recordStatuses } from '../support/flow-harness';
import memoryNodes from '../support/memory-nodes';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';

const devices = memoryNodes.devices;

type Status = { fill?: string; shape?: string; text?: string };

/** One device, three action nodes on it: a run goes through "move to A" then "move to B"; "park" is not wired. */
function flow(concurrency = 'reject'): object[] {
  return baseFlow([
    { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency, timeout: '', wires: [['moveA'], ['outcome']] },
    { id: 'moveA', type: 'workcell-memory', z: 't1', name: 'move to A', device: 'd1', operation: 'move', params: { position: 5, ms: 60_000 }, wires: [['moveB']] },
    { id: 'moveB', type: 'workcell-memory', z: 't1', name: 'move to B', device: 'd1', operation: 'move', params: { position: 6, ms: 1 }, wires: [['end']] },
    { id: 'park', type: 'workcell-memory', z: 't1', name: 'park', device: 'd1', operation: 'move', params: { position: 0, ms: 1 }, wires: [['parked']] },
    { id: 'parked', type: 'helper', z: 't1' },
    { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
    { id: 'outcome', type: 'helper', z: 't1' },
    { id: 'stop', type: 'workcell-estop', z: 't1', name: 'E-stop', cell: 'cell', action: 'estop', wires: [['stopped']] },
    { id: 'stopped', type: 'helper', z: 't1' },
  ]);
}

/** Event-loop turns: everything already scheduled (a coalesced status flush) has run. */
async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/** Waits (by polling turns, no time bound of its own) until `check` holds; the test's timeout bounds it. */
async function until(what: string, check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 5));
  assert.ok(check(), what);
}

describe('node statuses say where a run is and do not go stale', function () {
  this.timeout(20_000);
  let recorder: ReturnType<typeof recordStatuses>;
  const status = (id: string): Status | undefined => recorder.statuses.get(id);

  beforeEach(() => {
    devices.clear();
    recorder = recordStatuses();
  });
  afterEach(async () => {
    recorder.stop();
    await helper.unload();
    forgetLatches();
  });

  it("the action node running the device's step shows it, the device's other action nodes show its health quietly, and the step's own aborted status outlives the stop's health changes", async () => {
    await helper.load(controlNodes, flow());
    const outcome = new Received(helper.getNode('outcome'));
    const stopped = new Received(helper.getNode('stopped'));
    helper.getNode('seq').receive({ payload: 'go' });
    await until('move to A shows its step', () => status('moveA')?.text === 'busy: Move');
    assert.deepEqual(status('moveA'), { fill: 'blue', shape: 'dot', text: 'busy: Move' });
    for (const other of ['moveB', 'park']) assert.deepEqual(status(other), { fill: 'grey', shape: 'ring', text: 'busy' }, `${other} shows the device busy, quietly`);

    helper.getNode('stop').receive({ payload: 'trip' });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'aborted');
    await stopped.nth(1); // the stop report: the device has been stopped and made safe
    await turns();
    const own = status('moveA');
    assert.match(own?.text ?? '', /^aborted/, `move to A says its step was aborted: ${JSON.stringify(own)}`);
    assert.equal(devices.get('dev1')!.status, 'ready', 'the device is back to ready after its safe routine');
    assert.equal(status('park')?.text, 'ready', 'the other nodes show the health again');
    assert.equal(status('park')?.shape, 'ring');
  });

  it('while the cell is held, the node where a message waits says "held", and shows the health again once it went on', async () => {
    await helper.load(controlNodes, flow());
    const parked = new Received(helper.getNode('parked'));
    await getCell('cell')!.hold('test');
    helper.getNode('park').receive({ payload: 'park' });
    await until('park says held', () => status('park')?.text === 'held');
    assert.deepEqual(status('park'), { fill: 'yellow', shape: 'ring', text: 'held' });
    assert.notEqual(status('moveA')?.text, 'held', 'only the node where the message waits');
    await getCell('cell')!.resume('test');
    await parked.nth(1);
    await until('park shows the health again', () => status('park')?.text === 'ready');
  });

  it('a refused second start leaves a running sequence showing its run, not red', async () => {
    await helper.load(controlNodes, flow('reject'));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('seq').receive({ payload: 'first' });
    await until('the sequence shows its run', () => /^run /.test(status('seq')?.text ?? ''));
    const running = status('seq');
    helper.getNode('seq').receive({ payload: 'second' });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /refused a new start: run .* is still in progress/);
    await new Promise((r) => setTimeout(r, 150)); // past the sequence's status throttle (100 ms): a throttled red would have landed
    assert.deepEqual(status('seq'), running);
  });

  it('a red "cannot start" is cleared by the reset, and a sequence end does not keep the outcome of an earlier run after a later one aborted', async () => {
    await helper.load(controlNodes, flow());
    const outcome = new Received(helper.getNode('outcome'));
    const caught = new Received(helper.getNode('caught'));
    // Run 1 completes through the sequence end: "move to A" is made quick by the message.
    helper.getNode('seq').receive({ payload: 'one', params: { position: 5, ms: 1 } });
    const first = (await outcome.nth(1)).payload as { outcome: string; run: string };
    assert.equal(first.outcome, 'completed');
    await until('the sequence end shows run 1', () => status('end')?.text === `completed ${first.run}`);

    // Run 2 is aborted before it reaches the end: the end's "completed <run 1>" goes.
    helper.getNode('seq').receive({ payload: 'two' });
    await until('run 2 is in move to A', () => status('moveA')?.text === 'busy: Move');
    helper.getNode('stop').receive({ payload: 'trip' });
    assert.equal(((await outcome.nth(2)).payload as { outcome: string }).outcome, 'aborted');
    await turns();
    assert.deepEqual(status('end'), {}, 'the sequence end no longer shows run 1');

    // A start while aborted is refused in red; the reset clears it.
    helper.getNode('seq').receive({ payload: 'three' });
    assert.match(((await caught.nth(1)).error as { message: string }).message, /cannot start sequence "Seq"/);
    await until('the refusal shows red', () => status('seq')?.fill === 'red');
    helper.getNode('stop').receive({ action: 'reset' });
    await until('the cell is ready', () => getCell('cell')!.state === 'ready');
    await until('the refusal is cleared', () => status('seq')?.fill !== 'red');
    assert.deepEqual(status('seq'), {});
  });
});

describe('cell status device events', function () {
  this.timeout(20_000);
  beforeEach(() => devices.clear());
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  /** The flow with a cell status node of the given `devices` setting (absent: the saved flow of an earlier version). */
  async function load(setting: string | undefined): Promise<Received> {
    const status = { id: 'status', type: 'workcell-cell-status', z: 't1', cell: 'cell', wires: [['statusOut']], ...(setting === undefined ? {} : { devices: setting }) };
    await helper.load(controlNodes, [...flow(), status, { id: 'statusOut', type: 'helper', z: 't1' }]);
    return new Received(helper.getNode('statusOut'));
  }

  /** One run through both moves to its end. */
  async function oneRun(): Promise<void> {
    const outcome = new Received(helper.getNode('outcome'));
    helper.getNode('seq').receive({ payload: 'go', params: { position: 1, ms: 1 } });
    assert.equal(((await outcome.nth(1)).payload as { outcome: string }).outcome, 'completed');
    await turns();
  }

  const deviceMessages = (out: Received) => out.messages.filter((m) => m.topic === 'device').map((m) => m.payload as Record<string, unknown>);

  it('by default (and for a node saved without the setting) a run\'s busy/ready flips send nothing; a fault, its recovery and a change of position trust do', async () => {
    for (const setting of [undefined, 'changes']) {
      const out = await load(setting);
      await oneRun();
      assert.deepEqual(deviceMessages(out), [], `no device messages for the steps (${setting ?? 'absent'})`);
      devices.get('dev1')!.markUntrusted();
      devices.get('dev1')!.raiseFault('interlock open');
      await turns();
      const sent = deviceMessages(out);
      assert.deepEqual(
        sent.map((h) => [h.status, h.positionTrusted]),
        [
          ['ready', false],
          ['fault', false],
        ],
      );
      await helper.unload();
      forgetLatches();
      devices.clear();
    }
  });

  it('"all" sends every health change, and no payload has an undefined field; "none" sends no device messages', async () => {
    let out = await load('all');
    await oneRun();
    const sent = deviceMessages(out);
    assert.equal(sent.filter((h) => h.status === 'busy').length, 2, `a busy message per step: ${JSON.stringify(sent.map((h) => h.status))}`);
    assert.equal(sent.at(-1)!.status, 'ready');
    for (const m of out.messages) {
      for (const [k, v] of Object.entries(m.payload as object)) assert.notEqual(v, undefined, `${String(m.topic)} payload field ${k} is undefined`);
    }
    assert.ok(!('positionTrusted' in sent[0]), 'a device that does not track position has no positionTrusted field');
    await helper.unload();
    devices.clear();

    out = await load('none');
    await oneRun();
    devices.get('dev1')!.raiseFault('interlock open');
    await turns();
    assert.deepEqual(deviceMessages(out), []);
    assert.ok(out.messages.some((m) => m.topic === 'run'), 'the other topics are still sent');
  });
});
