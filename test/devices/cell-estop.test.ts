import assert from 'node:assert/strict';
import { AbortContext, EStop } from '../../lib';
import { Realtime } from '../../lib/simulators/grbl';
import { readyGantry, segments, startSim, until } from './gantry-fixtures';
import { readyDevice, received, startSimulators } from './instrument-fixtures';

/**
 * Issue 3's cell-wide test: one cell with a gantry streaming a program, a DMM in a long
 * measurement and a power supply with its outputs on; one emergency stop; the outcome checked
 * in the simulators' own state.
 */
describe('one emergency stop across a gantry and two instruments', function () {
  it('halts the program mid-way, aborts the measurement and turns the outputs off; every stop goes out before any safe routine', async () => {
    const grbl = await startSim();
    const scpi = await startSimulators();
    const gantry = await readyGantry({ name: 'Mill', address: grbl.address });
    const dmm = await readyDevice({ name: 'DMM', address: scpi.dmmAddress, preset: 'keysight-34461a', timeoutMs: 1000 });
    const psu = await readyDevice({ name: 'PSU', address: scpi.psuAddress, preset: 'rigol-dp821', timeoutMs: 1000 });
    try {
      const cell = new AbortContext({ name: 'cell', safeTimeoutMs: 3000, stopTimeoutMs: 1000 });
      cell.addDevice(gantry, 1);
      cell.addDevice(dmm, 0);
      cell.addDevice(psu, 0);
      const setup = await cell.checkpoint(undefined, 'setup');
      await gantry.execute('home', {}, { signal: setup.signal });
      await psu.execute('write', { command: ':APPL CH1,12,0.5' }, { signal: setup.signal });
      await psu.execute('output', { channel: 1, on: true }, { signal: setup.signal });
      await dmm.execute('write', { command: 'CONF:VOLT:DC;:VOLT:NPLC 100;:SAMP:COUN 50' }, { signal: setup.signal });
      scpi.dmm.timeScale = 1;

      const run = cell.startRun({ sequence: 'scan' });
      const streaming = run.runStep('program', (signal) => gantry.execute('program', { gcode: segments(40, -1, -5, 1200) }, { signal, runId: run.id }));
      const measuring = run.runStep('measure', (signal) => dmm.execute('read', { timeoutMs: 600_000 }, { signal, runId: run.id }));
      streaming.catch(() => undefined);
      measuring.catch(() => undefined);
      await until(() => grbl.sim.executedLines.filter((l) => l.startsWith('G1X')).length >= 3 && scpi.dmm.measuring, 'motion and measurement under way');

      const stoppedAt: Record<string, number> = {};
      grbl.sim.on('realtime', () => (stoppedAt.Mill ??= performance.now()));
      scpi.dmm.on('abort', () => (stoppedAt.DMM ??= performance.now()));
      let firstSafe = Infinity;
      scpi.psu.on('command', (e: { message: string }) => {
        if (e.message === 'ABOR') stoppedAt.PSU ??= performance.now();
        else if (/OUTP/.test(e.message)) firstSafe = Math.min(firstSafe, performance.now());
      });

      const report = await cell.estop('test');
      await assert.rejects(streaming, EStop);
      await assert.rejects(measuring, EStop);
      assert.equal(run.result?.outcome, 'aborted');
      assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [
        ['Mill', 'stopped', 'safe'],
        ['DMM', 'stopped', 'safe'],
        ['PSU', 'stopped', 'safe'],
      ]);
      // Gantry: motion halted mid-program, alarm raised, position untrusted.
      assert.ok(grbl.sim.receivedRealtime.some((r) => r.byte === Realtime.Reset));
      assert.equal(grbl.sim.alarm, 3);
      const done = grbl.sim.executedLines.filter((l) => l.startsWith('G1X')).length;
      assert.ok(done < 40, `halted mid-program (${done} of 40 segments)`);
      assert.equal(gantry.positionTrusted, false);
      // Instruments: measurement aborted, outputs off.
      assert.equal(scpi.dmm.measuring, false);
      assert.deepEqual(scpi.psu.outputs.map((o) => o.enabled), [false, false]);
      assert.ok(received(scpi.psu).includes('ABOR'));
      // Every device heard its stop before the first safe command went out.
      assert.ok(Number.isFinite(firstSafe), 'the PSU safe routine sent its OUTP commands');
      for (const name of ['Mill', 'DMM', 'PSU']) assert.ok(stoppedAt[name] !== undefined && stoppedAt[name] < firstSafe, `${name} stopped before any safe routine`);
      assert.equal(cell.state, 'aborted');
    } finally {
      await Promise.all([gantry.close(), dmm.close(), psu.close()]);
      await Promise.all([grbl.sim.close(), scpi.close()]);
    }
  });
});
