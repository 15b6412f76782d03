import assert from 'node:assert/strict';
import { AbortContext, EStop } from '../../lib';
import { Realtime } from '../../lib/simulators/grbl';
import { isRealtimeToken, readyGantry, segments, startSim, tokens, transcript, until } from './gantry-fixtures';
import { readyDevice, received, startSimulators } from './instrument-fixtures';

/**
 * Issue 3's cell-wide test: one cell with a gantry streaming a program, a DMM in a long
 * measurement and a power supply with its outputs on; one emergency stop; the outcome checked
 * in the simulators' own state.
 */
describe('one emergency stop across a gantry and two instruments', function () {
  it('halts the program mid-way, aborts the measurement and turns the outputs off; every stop goes out before any safe routine, and after the reset GRBL gets no G-code line', async () => {
    const grbl = await startSim();
    // What the driver writes to GRBL, per connection (there is one here).
    const wire = transcript(grbl.sim);
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

      // What each simulator heard, in the order it heard it. A GRBL status poll `?` is a
      // real-time byte like the stop's `!` and 0x18, but it is not a stop.
      const heard: string[] = [];
      const grblStop = new Set<number>([Realtime.FeedHold, Realtime.Reset]);
      grbl.sim.on('realtime', (byte: number) => {
        if (grblStop.has(byte)) heard.push('Mill stop');
      });
      scpi.dmm.on('abort', () => heard.push('DMM stop'));
      scpi.psu.on('command', (e: { message: string }) => {
        if (e.message === 'ABOR') heard.push('PSU stop');
        else if (/OUTP/.test(e.message)) heard.push('PSU safe');
      });
      // How much the driver had written when GRBL printed its banner again after the stop's reset.
      let bannerAt: number | undefined;
      grbl.sim.once('reset', () => (bannerAt = wire[0]!.length));

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
      const firstSafe = heard.indexOf('PSU safe');
      assert.ok(firstSafe >= 0, `the PSU safe routine sent its OUTP commands (heard: ${heard.join(', ')})`);
      for (const name of ['Mill', 'DMM', 'PSU']) {
        const stop = heard.indexOf(`${name} stop`);
        assert.ok(stop >= 0 && stop < firstSafe, `${name} stopped before any safe routine (heard: ${heard.join(', ')})`);
      }

      // GRBL after the stop: feed hold and soft reset together, then no G-code line at all. The
      // driver lets no line out before GRBL's banner; after it, it reads the parser state and
      // offsets ($G, $#) once, and polls status (?). In Alarm its safe routine sends nothing
      // (the reset switched spindle and coolant off). Wait for $# and a few polls after it.
      /** The tokens from the stop's feed hold on (none before it: the driver wrote no other `!`). */
      const afterStop = (written: string[]) => (written.includes('!') ? written.slice(written.indexOf('!')) : []);
      await until(() => {
        const after = afterStop(tokens(wire[0]!));
        const offsets = after.indexOf('$#');
        return offsets >= 0 && after.slice(offsets).filter((t) => t === '?').length >= 3;
      }, 'the driver to read $# and poll three times after the reset');
      assert.equal(wire.length, 1, 'one connection');
      const fromStop = afterStop(tokens(wire[0]!));
      assert.deepEqual(fromStop.slice(0, 2), ['!', 'reset'], 'the stop: ! then 0x18');
      const afterReset = fromStop.slice(2);
      assert.deepEqual(afterReset.filter((t) => isRealtimeToken(t) && t !== '?'), [], 'no real-time byte but status polls after the reset');
      assert.deepEqual(afterReset.filter((t) => !isRealtimeToken(t)), ['$G', '$#'], 'no line but the parser-state and offset queries after the reset');
      assert.ok(bannerAt !== undefined, 'GRBL printed its banner after the reset');
      const beforeBanner = afterStop(tokens(wire[0]!.slice(0, bannerAt)));
      assert.deepEqual(beforeBanner.filter((t) => !isRealtimeToken(t)), [], 'no line went out between the reset and the banner');
      assert.equal(cell.state, 'aborted');
    } finally {
      await Promise.all([gantry.close(), dmm.close(), psu.close()]);
      await Promise.all([grbl.sim.close(), scpi.close()]);
    }
  });
});
