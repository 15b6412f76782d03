import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helper, controlNodes, placed, delay } from '../support/flow-harness';
import { forgetLatches, getCell } from '../../nodes/shared/cell-registry';

const flow = () =>
  placed([
    { id: 't1', type: 'tab', label: 'test' },
    { id: 'cell', type: 'workcell-abort-context', name: 'Cell P' },
    { id: 'stop', type: 'workcell-estop', z: 't1', cell: 'cell', action: 'estop', wires: [] },
  ]);

/** A restart of Node-RED: flows stopped, the process's memory gone, flows loaded again. */
async function restart(): Promise<void> {
  await helper.unload();
  forgetLatches();
  await helper.load(controlNodes, flow());
}

describe('a latched emergency stop across a restart of Node-RED', function () {
  let userDir: string;
  beforeEach(() => {
    userDir = mkdtempSync(join(tmpdir(), 'workcell-latch-'));
    helper.settings({ userDir });
  });
  afterEach(async () => {
    await helper.unload();
    forgetLatches();
    helper.settings({ userDir: undefined });
    rmSync(userDir, { recursive: true, force: true });
  });

  it('is stored when it happens and the cell comes back aborted; a reset clears it for the next start', async () => {
    await helper.load(controlNodes, flow());
    helper.getNode('stop').receive({});
    await delay(30);
    const file = join(userDir, 'workcell-latches.json');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { cell: ['node "stop"'] }, 'stored at once (a crash must not unlatch the cell)');
    await restart();
    assert.equal(getCell('cell')!.state, 'aborted', 'after the restart the cell is still latched');
    assert.deepEqual(getCell('cell')!.tripSources, ['node "stop"']);
    await getCell('cell')!.reset('operator');
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), {});
    await restart();
    assert.equal(getCell('cell')!.state, 'ready');
  });

  it('a stop caused only by a redeploy or shutdown does not latch the next start', async () => {
    await helper.load(controlNodes, flow());
    await getCell('cell')!.estop('redeploy');
    await restart();
    assert.equal(getCell('cell')!.state, 'ready');
    assert.equal(existsSync(join(userDir, 'workcell-latches.json')), false);
  });
});
