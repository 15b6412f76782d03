import assert from 'node:assert/strict';
import { CommsListener, DemoCellRuntime, startDemoCell, tokenFor } from '../support/sidebar-cell';

// The Workcell sidebar's admin endpoints and comms feed, through a real Node-RED child process
// with adminAuth (alice may do everything, bob may only read), over the demo cell's devices on
// their simulators. Needs dist/ (npm run build).

type CellView = {
  id: string;
  name: string;
  state: string;
  tripSources: string[];
  activeTrips: Record<string, string>;
  unsafe: { device: string; why: string }[];
  runs: { run: string; sequence: string; step: string | null; startedAt: number }[];
  devices: Record<string, unknown>[];
};

const VIEW_KEYS = ['activeTrips', 'devices', 'id', 'name', 'runs', 'state', 'tripSources', 'unsafe'];
const DEVICE_KEYS = ['detail', 'device', 'fault', 'kind', 'owner', 'positionTrusted', 'reading', 'status'];

describe('Workcell sidebar endpoints (a real Node-RED with adminAuth)', function () {
  this.timeout(60_000);
  let demo: DemoCellRuntime;
  let alice: string;
  let bob: string;

  before(async () => {
    // The power supply answers within 1 s or not at all (so a silent one owes its stop quickly).
    demo = await startDemoCell({
      auth: true,
      adjust: (nodes) => {
        for (const n of nodes) if (n.type === 'workcell-instrument-device' && n.name === 'PSU') n.timeout = '1';
      },
    });
    alice = await tokenFor(demo.red, 'alice');
    bob = await tokenFor(demo.red, 'bob');
  });

  after(async () => {
    await demo?.stop();
  });

  const url = (path: string) => new URL(path, demo.red.url);
  const get = (path: string, token?: string) => fetch(url(path), { headers: token ? { authorization: `Bearer ${token}` } : {} });
  const post = (path: string, token?: string, body?: unknown) =>
    fetch(url(path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body ?? {}),
    });
  async function cellView(): Promise<CellView> {
    const res = await get('workcell/cells', bob);
    assert.equal(res.status, 200);
    const { cells } = (await res.json()) as { cells: CellView[] };
    const cell = cells.find((c) => c.id === demo.cellId);
    assert.ok(cell, `the demo cell ${demo.cellId} is listed`);
    return cell;
  }
  async function devicesReady(): Promise<void> {
    for (;;) {
      const view = await cellView();
      if (view.devices.length === 3 && view.devices.every((d) => d.status === 'ready')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('GET /workcell/cells needs workcell.read: 401 without a token, the demo cell for a reader; a new comms subscriber gets its retained view', async () => {
    assert.equal((await get('workcell/cells')).status, 401);
    await devicesReady();
    const view = await cellView();
    assert.equal(view.name, 'Demo cell B');
    assert.equal(view.state, 'ready');
    assert.deepEqual(Object.keys(view).sort(), VIEW_KEYS, 'the view holds the cell state, runs and devices only');
    assert.deepEqual(
      view.devices.map((d) => [d.device, d.kind, d.status]),
      [
        ['Gantry', 'gantry', 'ready'],
        ['DMM', 'instrument', 'ready'],
        ['PSU', 'instrument', 'ready'],
      ],
    );
    for (const d of view.devices) assert.deepEqual(Object.keys(d).filter((k) => !DEVICE_KEYS.includes(k)), [], `${String(d.device)} shows health and reading only`);
    // An editor connecting now gets the cell's latest view at once: it is retained.
    const late = await CommsListener.open(demo.red, 'workcell/cells/+', bob);
    try {
      const retained = await late.waitFor<CellView>((v) => v.id === demo.cellId, 'with the retained view');
      assert.equal(retained.state, 'ready');
      assert.deepEqual(Object.keys(retained).sort(), VIEW_KEYS);
    } finally {
      late.close();
    }
    // The gantry polls its status: its last reading is its state and position.
    const gantry = view.devices[0] as { reading: { time: number; values: { state: string; machine: { x: number } } } | null };
    assert.ok(gantry.reading, 'the gantry has a last reading');
    assert.equal(typeof gantry.reading.values.machine.x, 'number');
    assert.equal(gantry.reading.values.state, 'Alarm', 'the demo gantry powers up in Alarm until homed');
  });

  it('actions need workcell.write: without a token or as a reader they are refused and the cell does not move', async () => {
    assert.equal((await post(`workcell/cells/${demo.cellId}/estop`)).status, 401);
    assert.equal((await post(`workcell/cells/${demo.cellId}/estop`, bob)).status, 401);
    assert.equal((await post(`workcell/estop/wc02-control`, bob)).status, 401, "the estop node's button too");
    assert.equal((await cellView()).state, 'ready');
  });

  it("an emergency stop from the sidebar trips the cell, named after the editor's user, and answers as the estop node does", async () => {
    const comms = await CommsListener.open(demo.red, 'workcell/cells/+', bob);
    try {
      const res = await post(`workcell/cells/${demo.cellId}/estop`, alice);
      assert.equal(res.status, 200);
      const answer = (await res.json()) as { action: string; cell: string; state: string; report: { source: string; sources: string[]; devices: { device: string; stop: string; safe: string }[] } };
      assert.equal(answer.action, 'estop');
      assert.equal(answer.cell, 'Demo cell B');
      assert.equal(answer.state, 'aborted');
      assert.equal(answer.report.source, 'editor (alice)');
      assert.deepEqual(
        answer.report.devices.map((d) => [d.device, d.stop, d.safe]),
        [
          ['Gantry', 'stopped', 'safe'],
          ['DMM', 'stopped', 'safe'],
          ['PSU', 'stopped', 'safe'],
        ],
      );
      const view = await cellView();
      assert.equal(view.state, 'aborted');
      assert.deepEqual(view.tripSources, ['editor (alice)']);
      // Live: the editors hear the latched state over comms, with nothing but the view in it.
      const live = await comms.waitFor<CellView>((v) => v.id === demo.cellId && v.state === 'aborted', 'with the cell aborted');
      assert.deepEqual(Object.keys(live).sort(), VIEW_KEYS);
      assert.deepEqual(live.tripSources, ['editor (alice)']);
      const views = comms.messages.filter((m) => m.topic === `workcell/cells/${demo.cellId}`).map((m) => JSON.stringify(m.data));
      assert.ok(views.every((v, i) => i === 0 || v !== views[i - 1]), 'a view is published only when it changed');

      // The estop node's button gives the same answer's shape (and names the user too).
      const button = await post('workcell/estop/wc02-control', alice);
      assert.equal(button.status, 200);
      const buttonAnswer = (await button.json()) as typeof answer;
      assert.deepEqual(Object.keys(buttonAnswer).sort(), Object.keys(answer).sort());
      assert.deepEqual(Object.keys(buttonAnswer.report).sort(), Object.keys(answer.report).sort());
      assert.equal(buttonAnswer.report.source, 'editor (alice)');

      const reset = await post(`workcell/cells/${demo.cellId}/reset`, alice);
      assert.equal(reset.status, 200);
      assert.deepEqual(await reset.json(), { action: 'reset', cell: 'Demo cell B', state: 'ready' });
      await comms.waitFor<CellView>((v) => v.id === demo.cellId && v.state === 'ready' && comms.messages.some((m) => (m.data as CellView).state === 'aborted'), 'with the cell ready after the reset');
      assert.equal((await cellView()).state, 'ready');
    } finally {
      comms.close();
    }
  });

  it("errors are JSON sentences: no such cell, an action the sidebar does not offer, the cell's refusal", async () => {
    let res = await post('workcell/cells/nope/estop', alice);
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: string }).error, /no deployed cell "nope"/);
    res = await post(`workcell/cells/${demo.cellId}/heartbeat`, alice);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /unknown action "heartbeat" on cell "Demo cell B"; expected one of estop, halt, reset, hold, resume, clear, cancel/);
    res = await post(`workcell/cells/${demo.cellId}/resume`, alice);
    assert.equal(res.status, 409);
    assert.deepEqual(await res.json(), { error: 'cannot resume cell "Demo cell B": it is ready, not held' });
    await demo.red.waitForLog(/cell "Demo cell B": resume from editor \(alice\) refused: cannot resume cell "Demo cell B": it is ready, not held/);
    res = await post(`workcell/cells/${demo.cellId}/clear`, alice, { device: 'PSU' });
    assert.equal(res.status, 409);
    assert.match(((await res.json()) as { error: string }).error, /cannot clear device "PSU" of cell "Demo cell B"/);
    assert.equal((await cellView()).state, 'ready', 'refusals leave the cell as it was');
  });

  it('hold and resume from the sidebar', async () => {
    let res = await post(`workcell/cells/${demo.cellId}/hold`, alice);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { action: 'hold', cell: 'Demo cell B', state: 'held' });
    assert.equal((await cellView()).state, 'held');
    res = await post(`workcell/cells/${demo.cellId}/resume`, alice);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { action: 'resume', cell: 'Demo cell B', state: 'ready' });
  });

  it('cancel from the sidebar ends the named run and leaves the cell ready; without a run id it is refused', async () => {
    let res = await post(`workcell/cells/${demo.cellId}/cancel`, alice, {});
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { error: 'cancel on cell "Demo cell B" needs the id of the run to cancel as "run" in the JSON body, got nothing' });
    assert.equal((await post('inject/wc02-start', alice)).status, 200, 'the scan was started with its inject node');
    let view = await cellView();
    while (!view.runs.length) view = await cellView();
    const run = view.runs[0];
    assert.equal(run.sequence, 'Scan');
    res = await post(`workcell/cells/${demo.cellId}/cancel`, alice, { run: run.run });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as { action: string; run: string; state: string; report: { source: string } };
    assert.deepEqual([answer.action, answer.run, answer.state, answer.report.source], ['cancel', run.run, 'ready', 'editor (alice)']);
    view = await cellView();
    assert.deepEqual(view.runs, []);
    assert.equal(view.state, 'ready');
  });

  it('a device that owes its stop is listed with why, and Clear settles it by the named user; reset then succeeds', async () => {
    demo.sims.psu.faults.silent = true;
    try {
      const res = await post(`workcell/cells/${demo.cellId}/estop`, alice);
      assert.equal(res.status, 200);
      const view = await cellView();
      assert.deepEqual(
        view.unsafe.map((u) => u.device),
        ['PSU'],
      );
      assert.match(view.unsafe[0].why, /safe routine/);
      const refused = await post(`workcell/cells/${demo.cellId}/reset`, alice);
      assert.equal(refused.status, 409);
      assert.match(((await refused.json()) as { error: string }).error, /PSU/);
      assert.equal((await post(`workcell/cells/${demo.cellId}/clear`, bob, { device: 'PSU' })).status, 401, 'a reader cannot clear');
      demo.sims.psu.faults.silent = false;
      const cleared = await post(`workcell/cells/${demo.cellId}/clear`, alice, { device: 'PSU' });
      assert.equal(cleared.status, 200);
      assert.deepEqual(await cleared.json(), { action: 'clear', cell: 'Demo cell B', state: 'aborted', device: 'PSU', unsafe: [] });
      await demo.red.waitForLog(/device PSU is known stopped and safe again: .*\(by editor \(alice\)\)/);
      const reset = await post(`workcell/cells/${demo.cellId}/reset`, alice);
      assert.equal(reset.status, 200);
      assert.equal((await cellView()).state, 'ready');
    } finally {
      demo.sims.psu.faults.silent = false;
    }
  });
});
