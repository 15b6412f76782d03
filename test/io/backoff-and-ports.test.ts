import assert from 'node:assert/strict';
import { backoffDelay, listSerialPorts } from '../../lib/io';

describe('backoffDelay', () => {
  it('doubles from the minimum and stops at the cap', () => {
    const delays = [1, 2, 3, 4, 5, 6, 50].map((attempt) => backoffDelay(attempt, { minMs: 100, maxMs: 1000, jitter: 0 }));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('takes up to the jitter fraction off the delay, never more, never above the cap', () => {
    assert.equal(backoffDelay(1, { minMs: 1000, maxMs: 1000, jitter: 0.25 }, () => 0), 1000);
    assert.equal(backoffDelay(1, { minMs: 1000, maxMs: 1000, jitter: 0.25 }, () => 0.999999), 750);
    for (let i = 0; i < 200; i++) {
      const ms = backoffDelay(10, { minMs: 10, maxMs: 500, jitter: 0.5 });
      assert.ok(ms >= 250 && ms <= 500, `${ms}`);
    }
  });

  it('refuses inconsistent settings naming the value', () => {
    assert.throws(() => backoffDelay(1, { minMs: 500, maxMs: 100 }), /maximum delay 100 ms is below the minimum 500 ms/);
    assert.throws(() => backoffDelay(1, { jitter: 2 }), /jitter must be between 0 and 1, got 2/);
  });
});

describe('listSerialPorts', () => {
  it('resolves with the ports the system lists, leaving out empty fields', async () => {
    const result = await listSerialPorts(async () => [{ path: '/dev/ttyUSB0', manufacturer: 'FTDI', serialNumber: '', vendorId: '0403' }]);
    assert.deepEqual(result, { ports: [{ path: '/dev/ttyUSB0', manufacturer: 'FTDI', vendorId: '0403' }] });
  });

  it('resolves with no ports and the reason when the system cannot list them', async () => {
    const result = await listSerialPorts(async () => { throw new Error('spawn udevadm ENOENT'); });
    assert.deepEqual(result, { ports: [], error: 'the system cannot list its serial ports: spawn udevadm ENOENT' });
  });

  it('never rejects on this machine', async () => {
    const result = await listSerialPorts();
    assert.ok(Array.isArray(result.ports));
    if (result.error) assert.match(result.error, /^the system cannot list its serial ports: /);
  });
});
