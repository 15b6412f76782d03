import assert from 'node:assert/strict';
import { helper, controlNodes, Received, placed, delay } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';
import { until } from '../support/event-order';

function flow(heartbeat: string): object[] {
  return placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell H', heartbeat },
    { id: 'beat', type: 'workcell-estop', z: 't1', cell: 'cell', action: 'heartbeat', wires: [] },
    { id: 'ctl', type: 'workcell-estop', z: 't1', cell: 'cell', action: 'reset', wires: [] },
    { id: 'catcher', type: 'catch', z: 't1', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ]);
}

describe('dead-man heartbeat of a cell', function () {
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
  });

  it('heartbeats through an estop node keep the cell ready; when they stop, the cell trips and reset is refused until they return', async () => {
    await helper.load(controlNodes, flow('0.08'));
    const cell = getCell('cell')!;
    const caught = new Received(helper.getNode('caught'));
    for (let i = 0; i < 5; i++) {
      await delay(30);
      helper.getNode('beat').receive({});
    }
    assert.equal(cell.state, 'ready');
    await until(() => cell.tripSources.length > 0, 'the heartbeat to be lost');
    await cell.settled();
    assert.equal(cell.state, 'aborted');
    assert.match(cell.tripSources.join(), /heartbeat lost/);
    helper.getNode('ctl').receive({});
    assert.match(((await caught.nth(1)).error as { message: string }).message, /trip source heartbeat is still active \(heartbeat lost: none within 80 ms\)/);
    helper.getNode('beat').receive({});
    await until(() => Object.keys(cell.activeTrips).length === 0, 'the heartbeat trip source to clear');
    helper.getNode('ctl').receive({});
    await until(() => cell.state === 'ready', 'the reset to complete');
    assert.equal(cell.state, 'ready');
  });

  it('a heartbeat to a cell without a heartbeat period is a clear error', async () => {
    await helper.load(controlNodes, flow('0'));
    const caught = new Received(helper.getNode('caught'));
    helper.getNode('beat').receive({});
    assert.match(((await caught.nth(1)).error as { message: string }).message, /cell "Cell H" has no heartbeat period configured/);
  });
});
