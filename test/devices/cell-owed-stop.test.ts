import assert from 'node:assert/strict';
import { AbortContext } from '../../lib';
import { readyGantry, startSim, tokens, transcript, until, waitForStatus } from './gantry-fixtures';
import { readyDevice, startSimulators } from './instrument-fixtures';

const portOf = (address: string): number => Number(/:(\d+)$/.exec(address)![1]);

/**
 * The real drivers under a cell whose emergency stop found their links down: each owes its
 * stop, and pays it first thing when its link returns; the outcome is checked in the
 * simulators' own state.
 */
describe('a cell tripped while its gantry and power supply were unreachable', function () {
  this.timeout(30_000);

  it('each gets its stop frame first thing when its link returns, then its safe routine: the machine halted, the outputs off, the debts settled, reset accepted', async () => {
    // A bridge that keeps the serial port open: the controller runs on while the link is down.
    const grbl = await startSim({ resetOnAttach: false, homingEnabled: false, softLimits: undefined });
    const scpi = await startSimulators();
    const gantry = await readyGantry({ name: 'Mill', address: grbl.address, softLimits: {} });
    const psu = await readyDevice({ name: 'PSU', address: scpi.psuAddress, preset: 'rigol-dp821', timeoutMs: 1000 });
    try {
      const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 1000, stopTimeoutMs: 1000 });
      cell.addDevice(gantry);
      cell.addDevice(psu);
      const setup = await cell.checkpoint(undefined, 'setup');
      await psu.execute('write', { command: ':APPL CH1,12,0.5;:OUTP CH1,ON;:OUTP CH2,ON' }, { signal: setup.signal });
      const moving = gantry.execute('move', { x: -250, feed: 600 }, { signal: setup.signal });
      moving.catch(() => undefined);
      await until(() => grbl.sim.state === 'Run', 'motion');

      const gantryLost = waitForStatus(gantry, 'disconnected');
      const psuLost = waitForStatus(psu, 'disconnected');
      await Promise.all([grbl.sim.close(), scpi.psu.close()]);
      await Promise.all([gantryLost, psuLost]);
      const report = await cell.estop('panel');
      assert.deepEqual(report.devices.map((d) => [d.device, d.stop]), [['Mill', 'failed'], ['PSU', 'failed']]);
      assert.match(report.devices[0].stopError ?? '', /^Mill: cannot stop: not connected \(tcp:\/\/127\.0\.0\.1:\d+ is \w+/);
      assert.match(report.devices[1].stopError ?? '', /^PSU: cannot stop: not connected \(tcp:\/\/127\.0\.0\.1:\d+ is \w+/);
      assert.equal(grbl.sim.state, 'Run', 'the machine still moves');
      assert.deepEqual(scpi.psu.outputs.map((o) => o.enabled), [true, true], 'the outputs are still on');
      assert.deepEqual(cell.unsafeDevices.map((u) => u.device), ['Mill', 'PSU']);

      const gantryWire = transcript(grbl.sim);
      const psuFrom = scpi.psu.commandLog.length;
      await Promise.all([grbl.sim.listen({ port: portOf(grbl.address) }), scpi.psu.listen({ port: portOf(scpi.psuAddress) })]);
      await until(() => !gantry.owesStop && !psu.owesStop, 'both debts settled', 10_000);

      assert.deepEqual(tokens(gantryWire[0]).slice(0, 2), ['!', 'reset'], 'the gantry\'s stop frame came first');
      assert.equal(grbl.sim.state, 'Alarm');
      assert.equal(grbl.sim.alarm, 3, 'the reset caught the machine in motion');
      const psuWire = scpi.psu.commandLog.slice(psuFrom).map((e) => e.message);
      assert.equal(psuWire[0], 'ABOR', 'the power supply\'s stop came first');
      assert.deepEqual(scpi.psu.outputs.map((o) => o.enabled), [false, false]);
      assert.deepEqual(cell.unsafeDevices, []);
      await Promise.all([waitForStatus(gantry, 'ready'), waitForStatus(psu, 'ready')]);
      await cell.reset('operator');
      assert.equal(cell.state, 'ready');
    } finally {
      await Promise.all([gantry.close(), psu.close()]);
      await Promise.all([grbl.sim.close(), scpi.close()]);
    }
  });
});
