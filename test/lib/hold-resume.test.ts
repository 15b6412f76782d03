import assert from 'node:assert/strict';
import { AbortContext } from '../../lib';
import { MemoryDevice } from '../support/memory-device';

describe('hold and resume of pausable devices', () => {
  it('resume wakes only the devices the hold paused, not one paused by someone else', async () => {
    const cell = new AbortContext({ name: 'h' });
    const busy = new MemoryDevice('gantry');
    const idle = new MemoryDevice('robot');
    cell.addDevice(busy);
    cell.addDevice(idle);
    // Long enough that a loaded machine cannot finish it before the hold; waited for by its status, not a delay.
    const move = busy.execute('move', { position: 3, ms: 1000 }, { signal: new AbortController().signal });
    while (busy.status !== 'busy') await new Promise((r) => setImmediate(r));
    await idle.pause(); // an operator paused the robot separately
    await cell.hold('op');
    assert.equal(busy.paused, true, 'the busy device paused');
    await cell.resume('op');
    assert.equal(busy.paused, false);
    assert.equal(idle.paused, true, 'the separately paused device stays paused');
    assert.deepEqual(await move, { position: 3 });
  });
});
