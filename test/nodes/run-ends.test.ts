import assert from 'node:assert/strict';
import { helper, controlNodes, Received, baseFlow, delay } from '../support/flow-harness';
import memoryNodes from '../support/memory-nodes';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { until } from '../support/event-order';

const devices = memoryNodes.devices;

type Outcome = { outcome: string; run: string; step: string | null; error: string | null; source: string | null };
type Caught = { error: { message: string; source: { id: string } } };

const outcomeOf = (m: Record<string, unknown>) => m.payload as Outcome;

/** The errors a Catch node received from node `id`. */
const caughtFrom = (caught: Received, id: string) => (caught.messages as unknown as Caught[]).filter((m) => m.error.source.id === id).map((m) => m.error.message);

/** Counts a cell's runs in progress as they start and end: the most there ever were at once, and how often each run ended. */
function watchRuns(cellId = 'cell'): { max: () => number; ends: Map<string, number> } {
  const cell = getCell(cellId)!;
  let now = 0;
  let max = 0;
  const ends = new Map<string, number>();
  cell.on('run-start', () => {
    now++;
    max = Math.max(max, now);
  });
  cell.on('run-end', (r: { run: string }) => {
    now--;
    ends.set(r.run, (ends.get(r.run) ?? 0) + 1);
  });
  return { max: () => max, ends };
}

describe('every run ends, and says so', function () {
  beforeEach(() => devices.clear());
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  describe('a message refused before its step fails its run, and the outcome names the node', () => {
    /**
     * A sequence (concurrency reject) whose output 1 is wired to `step` (a node that refuses the
     * message), with its outcome collected; `more` adds nodes.
     */
    const refusingFlow = (step: Record<string, unknown>, more: object[] = []) =>
      baseFlow(
        [
          { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency: 'reject', wires: [['step'], ['outcome']] },
          { id: 'step', z: 't1', wires: [['end']], ...step },
          { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
          { id: 'outcome', type: 'helper', z: 't1' },
          ...more,
        ],
        [
          { id: 'd1', name: 'dev1' },
          { id: 'd2', name: 'dev2' },
        ],
      );

    /**
     * Start a run whose message `step` refuses: the run ends failed at `stepName` with the error,
     * the same error reaches Catch from `step`, the cell is ready again and the sequence (which
     * refuses a second start while a run is in progress) accepts the next one.
     */
    async function failsItsRun(input: Record<string, unknown>, stepName: string, error: RegExp): Promise<void> {
      const outcome = new Received(helper.getNode('outcome'));
      const caught = new Received(helper.getNode('caught'));
      const runs = watchRuns();
      helper.getNode('seq').receive(input);
      const o = outcomeOf(await outcome.nth(1));
      assert.equal(o.outcome, 'failed');
      assert.equal(o.step, stepName);
      assert.match(o.error!, error);
      await caught.nth(1);
      assert.deepEqual(
        caughtFrom(caught, 'step').map((m) => error.test(m)),
        [true],
        `the error reaches Catch from the node: ${JSON.stringify(caught.messages.map((m) => (m as unknown as Caught).error.message))}`,
      );
      assert.equal(getCell('cell')!.state, 'ready', 'the cell is not left running');
      assert.equal(runs.ends.get(o.run), 1, 'the run ended once');
      helper.getNode('seq').receive({ ...input });
      assert.equal(outcomeOf(await outcome.nth(2)).outcome, 'failed', 'the next start is accepted (and refused at the same node)');
      assert.equal(caughtFrom(caught, 'seq').length, 0, 'the sequence refused nothing');
    }

    it('an action node without a device, by its name or by "<device>: <operation>"', async () => {
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-memory', name: 'grip part', device: 'missing', operation: 'noop' }));
      await failsItsRun({ payload: 'go' }, 'grip part', /grip part: no memory device is configured for this node/);
      await helper.unload();
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-memory', device: 'missing', operation: 'noop' }));
      await failsItsRun({ payload: 'go' }, 'memory: noop', /workcell-memory: no memory device is configured for this node/);
    });

    it('an action node whose device configuration failed', async () => {
      await helper.load(
        controlNodes,
        refusingFlow({ type: 'workcell-memory', device: 'broken', operation: 'noop' }, [{ id: 'broken', type: 'workcell-memory-device', name: 'feeder', cell: 'cell', serial: 'nowhere' }]),
      );
      await failsItsRun({ payload: 'go' }, 'feeder: noop', /no memory device is configured for this node: feeder: the connection node "nowhere" does not exist/);
    });

    it('a refused parameter: wrong type, outside a limit, an unknown operation, msg.params not an object', async () => {
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-memory', name: 'move to B', device: 'd1', operation: 'move', params: { position: 5, ms: 1 } }));
      await failsItsRun({ params: { position: 'far' } }, 'move to B', /parameter "position" must be a finite number, got "far" \(string\)/);
      await helper.unload();
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-memory', name: 'move to B', device: 'd1', operation: 'move', params: { position: 5, ms: 1 } }));
      await failsItsRun({ params: { position: 1000 } }, 'move to B', /parameter "position" must be at most 100 mm, got 1000/);
      await helper.unload();
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-memory', device: 'd1', operation: 'move', params: { position: 5, ms: 1 } }));
      await failsItsRun({ operation: 'fly' }, 'dev1: fly', /fly/);
      await helper.unload();
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-memory', device: 'd1', operation: 'move', params: { position: 5, ms: 1 } }));
      await failsItsRun({ params: 'fast' }, 'dev1: move', /msg.params must be an object of parameters, got "fast" \(string\)/);
      assert.equal(devices.get('dev1')!.log.filter((e) => e.what === 'perform').length, 0, 'nothing reached the device');
    });

    it('a wait node refusing msg.delay, or configured without a cell', async () => {
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-wait', name: 'settle', cell: 'cell', mode: 'delay', delay: '1', units: 's' }));
      await failsItsRun({ delay: 'soon' }, 'settle', /settle: msg.delay must be a number of milliseconds between 0 and 86400000, got "soon" \(string\)/);
      await helper.unload();
      await helper.load(controlNodes, refusingFlow({ type: 'workcell-wait', cell: 'nowhere', mode: 'delay', delay: '1', units: 's' }));
      await failsItsRun({ payload: 'go' }, 'wait 1 s', /wait 1 s: no abort context \(cell\) is configured for this node/);
    });

    it('a malformed msg.workcell that still names a run fails that run', async () => {
      await helper.load(
        controlNodes,
        refusingFlow({ type: 'helper' }, [{ id: 'move', type: 'workcell-memory', z: 't1', name: 'move to B', device: 'd1', operation: 'move', params: { position: 5, ms: 1 }, wires: [] }]),
      );
      const outcome = new Received(helper.getNode('outcome'));
      const caught = new Received(helper.getNode('caught'));
      const inRun = new Received(helper.getNode('step'));
      helper.getNode('seq').receive({ payload: 'go' });
      const ref = (await inRun.nth(1)).workcell as { run: string };
      helper.getNode('move').receive({ workcell: { ...ref, cell: 42 } });
      const o = outcomeOf(await outcome.nth(1));
      assert.deepEqual([o.outcome, o.run, o.step], ['failed', ref.run, 'move to B']);
      assert.match(o.error!, /msg.workcell.cell must be a cell id string, got 42 \(number\)/);
      await caught.nth(1);
      assert.equal(caughtFrom(caught, 'move').length, 1);
      assert.equal(getCell('cell')!.state, 'ready');
    });

    it('a run of another cell fails there, and the error is reported at this node', async () => {
      await helper.load(
        controlNodes,
        refusingFlow({ type: 'workcell-memory', name: 'move to B', device: 'd1', operation: 'move', params: { position: 5, ms: 1 } }, [
          { id: 'cell2', type: 'workcell-abort-context', name: 'Cell B' },
          { id: 'seq2', type: 'workcell-sequence', z: 't1', name: 'Other', cell: 'cell2', concurrency: 'reject', wires: [['step'], ['outcome2']] },
          { id: 'outcome2', type: 'helper', z: 't1' },
        ]),
      );
      const outcome2 = new Received(helper.getNode('outcome2'));
      const caught = new Received(helper.getNode('caught'));
      helper.getNode('seq2').receive({ payload: 'other cell' });
      const o = outcomeOf(await outcome2.nth(1));
      assert.deepEqual([o.outcome, o.step], ['failed', 'move to B']);
      assert.match(o.error!, /belongs to cell "Cell B", not to this node's cell "Cell A"/);
      await caught.nth(1);
      assert.equal(caughtFrom(caught, 'step').length, 1);
      assert.equal(getCell('cell2')!.state, 'ready', 'the other cell is not left running');
      helper.getNode('seq2').receive({ payload: 'again' });
      assert.equal(outcomeOf(await outcome2.nth(2)).outcome, 'failed', 'the other sequence accepts a new start');
    });

    it('a message of a run that has already ended is still dropped quietly', async () => {
      await helper.load(controlNodes, refusingFlow({ type: 'helper' }, [{ id: 'nodev', type: 'workcell-memory', z: 't1', device: 'missing', operation: 'noop', wires: [] }]));
      const outcome = new Received(helper.getNode('outcome'));
      const caught = new Received(helper.getNode('caught'));
      const inRun = new Received(helper.getNode('step'));
      helper.getNode('seq').receive({ payload: 'go' });
      const ref = (await inRun.nth(1)).workcell as { run: string };
      await getCell('cell')!.cancelRun(ref.run, 'test');
      assert.equal(outcomeOf(await outcome.nth(1)).outcome, 'cancelled');
      helper.getNode('nodev').receive({ workcell: ref });
      helper.getNode('seq').receive({ payload: 'next' });
      await inRun.nth(2);
      assert.equal(outcome.messages.length, 1, 'the ended run reports no second outcome');
      assert.equal(getCell('cell')!.activeRuns.length, 1, 'and the new run is not touched');
    });
  });

  describe('concurrency under a synchronous burst of inputs', () => {
    const burstFlow = (concurrency: string, moveMs: number) =>
      baseFlow([
        { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', concurrency, wires: [['move'], ['outcome']] },
        { id: 'move', type: 'workcell-memory', z: 't1', name: 'move', device: 'd1', operation: 'move', params: { position: 5, ms: moveMs }, wires: [['end']] },
        { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
        { id: 'outcome', type: 'helper', z: 't1' },
      ]);
    const N = 50;
    const burst = (from = 0, n = N) => {
      for (let i = from; i < from + n; i++) helper.getNode('seq').receive({ payload: i, input: i });
    };

    it('cancel-previous: one run at a time, each replaced run ends cancelled once, the newest input wins', async () => {
      await helper.load(controlNodes, burstFlow('cancel-previous', 20));
      const outcome = new Received(helper.getNode('outcome'));
      const runs = watchRuns();
      burst();
      await outcome.nth(N);
      const all = outcome.messages.map((m) => ({ input: m.input as number, ...outcomeOf(m) }));
      assert.equal(runs.max(), 1, 'never more than one run of the sequence in progress');
      assert.equal(new Set(all.map((o) => o.run)).size, N, 'one run per input');
      assert.ok([...runs.ends.values()].every((n) => n === 1), 'each run ended exactly once');
      assert.deepEqual(all.filter((o) => o.outcome !== 'cancelled').map((o) => [o.input, o.outcome]), [[N - 1, 'completed']]);
      assert.ok(all.filter((o) => o.outcome === 'cancelled').every((o) => o.source === 'sequence "Seq": replaced by a new run'));
      await delay(30);
      assert.equal(outcome.messages.length, N, 'no outcome twice');
    });

    it('cancel-previous during a step: the step is stopped and its device made safe before the newest run uses it', async () => {
      await helper.load(controlNodes, burstFlow('cancel-previous', 5000));
      const outcome = new Received(helper.getNode('outcome'));
      const runs = watchRuns();
      const dev = devices.get('dev1')!;
      helper.getNode('seq').receive({ payload: 'first', input: -1 });
      while (!dev.log.some((e) => e.what === 'perform')) await delay(2);
      burst(0, 20);
      await outcome.nth(20);
      assert.equal(runs.max(), 1);
      const first = outcomeOf(outcome.messages[0]);
      assert.deepEqual([outcome.messages[0].input, first.outcome, first.step], [-1, 'cancelled', 'move']);
      // The newest run waits for the device the cancelled run held: stopped, made safe, released.
      while (dev.log.filter((e) => e.what === 'perform').length < 2) await delay(2);
      const log = dev.log.map((e) => e.what);
      assert.deepEqual(log.slice(0, log.lastIndexOf('perform') + 1).filter((w) => w !== 'abort-op'), ['perform', 'stop', 'safe', 'safe-done', 'perform']);
      assert.equal(getCell('cell')!.activeRuns.length, 1);
      assert.equal(outcome.messages.filter((m) => outcomeOf(m).outcome === 'cancelled').length, 20);
    });

    it('queue: one run at a time, every input runs, in order', async () => {
      await helper.load(controlNodes, burstFlow('queue', 0));
      const outcome = new Received(helper.getNode('outcome'));
      const runs = watchRuns();
      burst();
      await outcome.nth(N, 15000);
      assert.equal(runs.max(), 1);
      assert.deepEqual(
        outcome.messages.map((m) => [m.input, outcomeOf(m).outcome]),
        Array.from({ length: N }, (_, i) => [i, 'completed']),
      );
      assert.ok([...runs.ends.values()].every((n) => n === 1) && runs.ends.size === N);
    });

    it('reject: one run, every other input refused with an error', async () => {
      await helper.load(controlNodes, burstFlow('reject', 20));
      const outcome = new Received(helper.getNode('outcome'));
      const caught = new Received(helper.getNode('caught'));
      const runs = watchRuns();
      burst();
      await caught.nth(N - 1);
      assert.deepEqual(
        outcomeOf(await outcome.nth(1)).outcome,
        'completed',
      );
      assert.equal(runs.max(), 1);
      assert.equal(outcome.messages[0].input, 0);
      assert.ok(caughtFrom(caught, 'seq').every((m) => /refused a new start: run .* is still in progress \(concurrency: reject\)/.test(m)));
      assert.equal(caughtFrom(caught, 'seq').length, N - 1);
    });
  });

  describe('a step is named by the node the user named', () => {
    it('"aborted at move to B" says which of four moves on one device', async () => {
      const moves = ['A', 'B', 'C', 'D'].map((p, i, all) => ({
        id: `to${p}`,
        type: 'workcell-memory',
        z: 't1',
        name: `move to ${p}`,
        device: 'd1',
        operation: 'move',
        params: { position: i + 1, ms: p === 'B' ? 5000 : 1 },
        wires: [[i + 1 < all.length ? `to${all[i + 1]}` : 'end']],
      }));
      await helper.load(
        controlNodes,
        baseFlow([
          { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', wires: [['toA'], ['outcome']] },
          ...moves,
          { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
          { id: 'outcome', type: 'helper', z: 't1' },
        ]),
      );
      const outcome = new Received(helper.getNode('outcome'));
      const statuses: { text?: string }[] = [];
      helper.getNode('seq').on('call:status', (call: { args: [{ text?: string }] }) => statuses.push(call.args[0]));
      const dev = devices.get('dev1')!;
      helper.getNode('seq').receive({ payload: 'go' });
      while (dev.log.filter((e) => e.what === 'perform').length < 2) await delay(2);
      await getCell('cell')!.estop('test');
      const o = outcomeOf(await outcome.nth(1));
      assert.deepEqual([o.outcome, o.step], ['aborted', 'move to B']);
      // The sequence's status is throttled (100 ms): wait for it to land rather than for a time.
      await until(() => statuses.some((s) => s.text === 'aborted at move to B'), 'the status').catch(() => undefined);
      assert.ok(
        statuses.some((s) => s.text === 'aborted at move to B'),
        `the sequence's status says where: ${JSON.stringify(statuses)}`,
      );
    });

    it('an unnamed sequence end that fails the run is named by what it does', async () => {
      await helper.load(
        controlNodes,
        baseFlow([
          { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', wires: [['end'], ['outcome']] },
          { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', outcome: 'fail', wires: [] },
          { id: 'outcome', type: 'helper', z: 't1' },
        ]),
      );
      const outcome = new Received(helper.getNode('outcome'));
      helper.getNode('seq').receive({ payload: 'part rejected' });
      const o = outcomeOf(await outcome.nth(1));
      assert.deepEqual([o.outcome, o.step, o.error], ['failed', 'sequence end (fail)', 'part rejected']);
    });
  });

  describe('a redeploy during a run', () => {
    /** A run that waits in a 10 s step; its outcome, a cell status node and what they emit, collected. */
    const redeployFlow = (extra: object[] = []) =>
      baseFlow([
        { id: 'seq', type: 'workcell-sequence', z: 't1', name: 'Seq', cell: 'cell', wires: [['move'], ['outcome']] },
        { id: 'move', type: 'workcell-memory', z: 't1', name: 'move to B', device: 'd1', operation: 'move', params: { position: 5, ms: 10_000 }, wires: [['end']] },
        { id: 'end', type: 'workcell-sequence-end', z: 't1', cell: 'cell', wires: [] },
        { id: 'outcome', type: 'helper', z: 't1' },
        { id: 'status', type: 'workcell-cell-status', z: 't1', cell: 'cell', wires: [['statusOut']] },
        { id: 'statusOut', type: 'helper', z: 't1' },
        ...extra,
      ]);

    /** Start a run and resolve once its step is performing on the device. */
    async function runInStep(): Promise<void> {
      helper.getNode('seq').receive({ payload: 'go' });
      const dev = devices.get('dev1')!;
      while (!dev.log.some((e) => e.what === 'perform')) await delay(2);
    }

    it('a full deploy: the outcome leaves output 2, reaches cell status and the log before the old nodes close', async () => {
      await helper.load(controlNodes, redeployFlow());
      const outcome = new Received(helper.getNode('outcome'));
      const status = new Received(helper.getNode('statusOut'));
      const logged: string[] = [];
      helper.getNode('seq').on('call:log', (call: { args: [unknown] }) => logged.push(String(call.args[0])));
      await runInStep();
      const dev = devices.get('dev1')!;
      await helper.setFlows(redeployFlow(), 'full');
      const o = outcomeOf(await outcome.nth(1, 1000));
      assert.deepEqual([o.outcome, o.step, o.source], ['aborted', 'move to B', 'redeploy: sequence "Seq" restarted']);
      const runEnd = status.messages.find((m) => m.topic === 'run');
      assert.ok(runEnd, `cell status emitted the run's end: ${JSON.stringify(status.messages.map((m) => m.topic))}`);
      assert.equal((runEnd.payload as Outcome).outcome, 'aborted');
      const states = status.messages.filter((m) => m.topic === 'state').map((m) => (m.payload as { to: string }).to);
      assert.equal(states[states.length - 1], 'ready', `the cell's state change reached cell status: ${states.join(', ')}`);
      assert.equal(logged.length, 1);
      assert.match(logged[0], new RegExp(`^run ${o.run} of sequence "Seq" aborted at move to B: emergency stop \\(redeploy: sequence "Seq" restarted\\)$`));
      const log = dev.log.map((e) => e.what);
      assert.ok(log.includes('stop') && log.includes('safe-done'), `the device was stopped and made safe: ${log.join(',')}`);
      // The redeployed flow runs again.
      const again = new Received(helper.getNode('outcome'));
      await runInStep();
      assert.equal(getCell('cell')!.activeRuns.length, 1, 'the new sequence starts a run');
      await getCell('cell')!.cancelRun(getCell('cell')!.activeRuns[0].id, 'test');
      assert.equal(outcomeOf(await again.nth(1)).outcome, 'cancelled');
    });

    it('removing the sequence says so in the outcome', async () => {
      await helper.load(controlNodes, redeployFlow());
      const outcome = new Received(helper.getNode('outcome'));
      await runInStep();
      const without = redeployFlow().filter((n) => (n as { id: string }).id !== 'seq');
      await helper.setFlows(without, 'full');
      assert.equal(outcomeOf(await outcome.nth(1, 1000)).source, 'redeploy: sequence "Seq" removed');
    });

    it('with the cell set to trip on a redeploy: the outcome and the aborting state still reach the flow', async () => {
      const tripping = () => redeployFlow().map((n) => ((n as { id: string }).id === 'cell' ? { ...n, redeploy: 'estop-cell' } : n));
      await helper.load(controlNodes, tripping());
      const outcome = new Received(helper.getNode('outcome'));
      const status = new Received(helper.getNode('statusOut'));
      await runInStep();
      await helper.setFlows(tripping(), 'full');
      const o = outcomeOf(await outcome.nth(1, 1000));
      assert.deepEqual([o.outcome, o.step, o.source], ['aborted', 'move to B', 'redeploy: sequence "Seq" restarted']);
      const states = status.messages.filter((m) => m.topic === 'state').map((m) => (m.payload as { to: string }).to);
      assert.ok(states.includes('aborting'), `cell status saw the trip: ${states.join(', ')}`);
      assert.ok(status.messages.some((m) => m.topic === 'run'));
    });

    it('a modified-nodes deploy ends only the runs of the sequences it restarts', async () => {
      await helper.load(controlNodes, redeployFlow([{ id: 'other', type: 'helper', z: 't1', name: 'before' }]));
      const outcome = new Received(helper.getNode('outcome'));
      await runInStep();
      await helper.setFlows(redeployFlow([{ id: 'other', type: 'helper', z: 't1', name: 'after' }]), 'nodes');
      await delay(20);
      assert.equal(outcome.messages.length, 0, 'an unrelated change leaves the run alone');
      assert.equal(getCell('cell')!.activeRuns.length, 1);
      const renamed = redeployFlow([{ id: 'other', type: 'helper', z: 't1', name: 'after' }]).map((n) => ((n as { id: string }).id === 'seq' ? { ...n, name: 'Seq 2' } : n));
      await helper.setFlows(renamed, 'nodes');
      const o = outcomeOf(await outcome.nth(1, 1000));
      assert.deepEqual([o.outcome, o.source], ['aborted', 'redeploy: sequence "Seq" restarted']);
    });
  });
});
