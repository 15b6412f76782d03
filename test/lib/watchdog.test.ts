import assert from 'node:assert/strict';
import { AbortContext, Watchdog } from '../../lib';
import { MemoryDevice } from '../support/memory-device';

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Watchdog (dead-man heartbeat)', () => {
  it('a missed heartbeat trips the emergency stop and every device is stopped', async () => {
    const cell = new AbortContext({ name: 'wd' });
    const dev = new MemoryDevice('press');
    cell.addDevice(dev);
    const wd = new Watchdog(cell, 'heartbeat:supervisor', 30);
    await wait(60);
    await cell.settled();
    assert.equal(cell.state, 'aborted');
    assert.ok(dev.log.some((e) => e.what === 'stop'));
    assert.match(cell.tripSources[0], /heartbeat:supervisor: heartbeat lost: none within 30 ms/);
    wd.stop();
  });

  it('reset is refused while the heartbeat is lost and allowed once it beats again; the cell stays latched meanwhile', async () => {
    const cell = new AbortContext({ name: 'wd' });
    const wd = new Watchdog(cell, 'heartbeat:plc', 20);
    await wait(40);
    await cell.settled();
    await assert.rejects(cell.reset('op'), /trip source heartbeat:plc is still active \(heartbeat lost/);
    wd.beat();
    assert.equal(cell.state, 'aborted', 'a returning heartbeat does not unlatch the cell');
    await cell.reset('op');
    assert.equal(cell.state, 'ready');
    wd.stop();
  });

  it('regular heartbeats keep the cell ready', async () => {
    const cell = new AbortContext({ name: 'wd' });
    const wd = new Watchdog(cell, 'heartbeat:ok', 40);
    for (let i = 0; i < 6; i++) {
      await wait(15);
      wd.beat();
    }
    assert.equal(cell.state, 'ready');
    wd.stop();
  });
});
