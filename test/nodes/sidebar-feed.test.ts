import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { helper, baseFlow, controlNodes } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';

const sidebar = (require('../../nodes/sidebar') as { default?: unknown }).default ?? require('../../nodes/sidebar');

/** What the runtime published on Node-RED's comms channel (its `comms` runtime event). */
type Published = { topic: string; data: Record<string, unknown>; retain: boolean };
function recordComms(): { published: Published[]; stop: () => void } {
  const published: Published[] = [];
  const events = (helper as unknown as { _events: EventEmitter })._events;
  const on = (m: Published) => {
    if (m.topic.startsWith('workcell/')) published.push({ topic: m.topic, data: m.data, retain: m.retain });
  };
  events.on('comms', on);
  return { published, stop: () => events.off('comms', on) };
}

const nextTurn = () => new Promise((r) => setImmediate(r));

describe('Workcell sidebar feed (comms)', function () {
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  const devices = ['d1', 'd2', 'd3', 'd4', 'd5'].map((id) => ({ id, name: `dev-${id}` }));

  it("a cell's view is published when it starts, and a trip's burst of events is coalesced into a few views ending latched", async () => {
    const comms = recordComms();
    try {
      await helper.load([...controlNodes, sidebar as (red: unknown) => void], baseFlow([], devices));
      const cell = getCell('cell')!;
      // The first view goes out on a turn after the cell registered; wait until the devices are in it.
      while (!comms.published.some((m) => (m.data.devices as unknown[] | undefined)?.length === devices.length)) await nextTurn();
      const before = comms.published.length;
      assert.equal(comms.published[before - 1].topic, 'workcell/cells/cell');
      assert.equal(comms.published[before - 1].data.state, 'ready');

      let events = 0;
      const count = () => events++;
      const names = ['state', 'device-health', 'stop-debt', 'stop-report', 'latch'];
      for (const e of names) cell.on(e, count);
      await cell.estop('test');
      for (const e of names) cell.off(e, count);
      while (comms.published.at(-1)!.data.state !== 'aborted') await nextTurn();
      const views = comms.published.slice(before);
      assert.ok(events > views.length, `${events} events of the cell made ${views.length} views`);
      assert.ok(views.length >= 1);
      assert.deepEqual(views.at(-1)!.data.tripSources, ['test']);
    } finally {
      comms.stop();
    }
  });

  it("a run entering another step is published at once (the run's 'step' event, no polling)", async () => {
    const comms = recordComms();
    try {
      await helper.load([...controlNodes, sidebar as (red: unknown) => void], baseFlow([]));
      const cell = getCell('cell')!;
      while (!comms.published.some((m) => m.topic === 'workcell/cells/cell')) await nextTurn();
      const run = cell.startRun({ sequence: 'job' });
      const stepOf = (m: Published) => (m.data.runs as { run: string; step: string | null }[] | undefined)?.find((r) => r.run === run.id)?.step;
      const sawStep = async (step: string) => {
        while (!comms.published.some((m) => stepOf(m) === step)) await new Promise((r) => setTimeout(r, 5));
      };
      run.enter('move to A');
      await sawStep('move to A');
      const published = comms.published.length;
      run.enter('move to A'); // the same step again is no change: nothing new goes out
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(comms.published.length, published);
      let resolveStep!: () => void;
      const step = run.runStep('move to B', () => new Promise<void>((r) => (resolveStep = r)));
      await sawStep('move to B');
      resolveStep();
      await step;
      run.cancel();
    } finally {
      comms.stop();
    }
  });

  it("a cell's view is retained (an editor that connects later gets it); a removed cell is announced as removed, not retained (dropping its view); the view carries the cell's state, runs and devices only", async () => {
    const comms = recordComms();
    try {
      await helper.load([...controlNodes, sidebar as (red: unknown) => void], baseFlow([]));
      while (!comms.published.length) await nextTurn();
      assert.deepEqual(Object.keys(comms.published[0].data).sort(), ['activeTrips', 'devices', 'id', 'name', 'runs', 'state', 'tripSources', 'unsafe']);
      assert.equal(comms.published[0].retain, true);
      await helper.unload();
      assert.deepEqual(comms.published.at(-1), { topic: 'workcell/cells/cell', data: { id: 'cell', removed: true }, retain: false });
    } finally {
      comms.stop();
    }
  });
});
