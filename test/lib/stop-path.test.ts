import assert from 'node:assert/strict';
import { AbortContext, AbortContextOptions, CellState, EStop, LatchChange, StopDebtChange, WorkcellError, sleep } from '../../lib';
import { PlainDevice, TestDevice, rejection, tick, until } from './helpers';

/**
 * The stop path at its edges (issue 6): reset only over devices known stopped and safe, owed
 * stops, clearing by hand, a trip winning every race, the halt during a safe phase, honest
 * reports, the latch announced on entering aborting.
 */
interface Cell {
  cell: AbortContext;
  log: string[];
  states: string[];
  debts: StopDebtChange[];
  latches: LatchChange[];
  device(name: string, safeGroup?: number): TestDevice;
}

function makeCell(options: Partial<AbortContextOptions> = {}): Cell {
  const cell = new AbortContext({ name: 'cell A', ...options });
  const log: string[] = [];
  const states: string[] = [];
  const debts: StopDebtChange[] = [];
  const latches: LatchChange[] = [];
  cell.on('state', (s: { from: CellState; to: CellState }) => {
    states.push(`${s.from}→${s.to}`);
    log.push(`state ${s.to}`);
  });
  cell.on('stop-debt', (d: StopDebtChange) => debts.push(d));
  cell.on('latch', (l: LatchChange) => {
    latches.push(l);
    log.push(`latch ${l.sources.join(',') || '-'}`);
  });
  return {
    cell,
    log,
    states,
    debts,
    latches,
    device(name, safeGroup = 0) {
      const d = new TestDevice(name, log);
      cell.addDevice(d, safeGroup);
      return d;
    },
  };
}

async function resetError(cell: AbortContext): Promise<string> {
  const err = await rejection(cell.reset('operator'));
  assert.ok(err instanceof WorkcellError, String(err));
  return err.message;
}

describe('the stop path', () => {
  describe('reset only over a cell known to be stopped and safe', () => {
    it('a device whose stop failed, timed out, or whose safe routine failed or timed out keeps reset refused, and the refusal names each device and why', async () => {
      const { cell, device } = makeCell({ stopTimeoutMs: 30, safeTimeoutMs: 30 });
      device('ok');
      device('stop-fails').stopFails = true;
      device('stop-hangs').stopHangs = true;
      device('safe-fails').safeFails = true;
      device('safe-slow').safeMs = 10_000;
      const report = await cell.estop('panel');
      assert.deepEqual(report.unsafe.map((u) => u.device).sort(), ['safe-fails', 'safe-slow', 'stop-fails', 'stop-hangs']);
      const message = await resetError(cell);
      assert.match(message, /device stop-fails is not known to be stopped and safe: its stop failed \(stop-fails: stop not acknowledged\)/);
      assert.match(message, /device stop-hangs is not known to be stopped and safe: its stop was not acknowledged \(stop-hangs: stop: no acknowledgement within 30 ms\)/);
      assert.match(message, /device safe-fails is not known to be stopped and safe: its safe routine failed \(safe-fails: safe routine failed\)/);
      assert.match(message, /device safe-slow is not known to be stopped and safe: its safe routine timed out \(safe-slow: safe routine: no confirmation within 30 ms\)/);
      assert.doesNotMatch(message, /device ok/);
      assert.equal(cell.state, 'aborted');
    });

    it('a device that is disconnected keeps reset refused, naming it', async () => {
      const { cell, device } = makeCell();
      const psu = device('psu');
      await cell.estop('panel');
      psu.setStatusTo('disconnected', 'connection refused');
      assert.match(await resetError(cell), /device psu is not known to be stopped and safe: its link dropped while the cell was stopped \(disconnected: connection refused\)/);
    });

    it('a device unreachable at the trip owes its stop: when its link returns the stop frame goes out before anything else, then its safe routine; success settles the debt and reset is accepted', async () => {
      const { cell, device, log, debts } = makeCell({ stopTimeoutMs: 50 });
      const psu = device('psu');
      psu.linkDown();
      const report = await cell.estop('panel');
      assert.deepEqual([report.devices[0].stop, report.devices[0].safe], ['failed', 'failed']);
      assert.equal(psu.owesStop, true);
      assert.match(await resetError(cell), /device psu is not known to be stopped and safe: its stop failed/);
      log.length = 0;
      psu.linkBack();
      assert.deepEqual(log.slice(0, 2), ['link psu', 'stop psu'], 'the owed stop is the first thing written on the new link');
      await until(() => !psu.owesStop, 'the debt to be settled');
      assert.deepEqual(log.slice(0, 4), ['link psu', 'stop psu', 'safe psu', 'safe-done psu']);
      assert.deepEqual(debts.at(-1), { cell: 'cell A', device: 'psu', owes: false, why: 'its owed stop was delivered and its safe routine succeeded', source: null });
      assert.deepEqual(cell.unsafeDevices, []);
      await cell.reset('operator');
      assert.equal(cell.state, 'ready');
    });

    it('a device dropping mid-stop owes its stop; its return pays it', async () => {
      const { cell, device, log } = makeCell({ stopTimeoutMs: 50 });
      const gantry = device('gantry');
      gantry.stopHangs = true;
      const stopping = cell.estop('panel');
      gantry.linkDown();
      const report = await stopping;
      assert.equal(report.devices[0].stop, 'timed-out');
      assert.ok(report.unsafe.some((u) => u.device === 'gantry'));
      gantry.stopHangs = false;
      log.length = 0;
      gantry.linkBack();
      assert.equal(log[1], 'stop gantry');
      await until(() => !gantry.owesStop, 'the debt to be settled');
      await cell.reset('operator');
    });

    it('an owed stop that fails again keeps the debt, saying so', async () => {
      const { cell, device } = makeCell({ stopTimeoutMs: 50 });
      const psu = device('psu');
      psu.linkDown();
      await cell.estop('panel');
      psu.linkBack({ stopWorks: false });
      await until(() => cell.unsafeDevices.some((u) => /owed stop failed again/.test(u.why)), 'the debt to say the owed stop failed again');
      assert.match(await resetError(cell), /psu/);
    });

    it('a device that joins a latched cell owes its stop: a connected one gets it at once, then its safe routine', async () => {
      const cell = new AbortContext({ name: 'cell A', startAborted: ['panel'] });
      const log: string[] = [];
      const arm = new TestDevice('arm', log);
      cell.addDevice(arm);
      assert.deepEqual(log, ['stop arm']);
      await until(() => !arm.owesStop, 'the debt to be settled');
      assert.deepEqual(log, ['stop arm', 'safe arm', 'safe-done arm']);
      await cell.reset('operator');
    });

    it('an operator clears one device made safe by hand, explicitly and logged with its source; never implicitly', async () => {
      const { cell, device, debts } = makeCell({ safeTimeoutMs: 30 });
      device('arm');
      const press = device('press');
      press.safeFails = true;
      await cell.estop('panel');
      assert.match(await resetError(cell), /device press is not known to be stopped and safe/);
      const refused = async (name: unknown, pattern: RegExp) => {
        const err = await rejection(Promise.resolve().then(() => cell.clearDevice(name, 'panel 2')));
        assert.ok(err instanceof WorkcellError);
        assert.match(err.message, pattern);
      };
      await refused(42, /cannot clear a device of cell "cell A": msg.device must name one of its devices \(a string\), got 42/);
      await refused('robot', /cannot clear device "robot" of cell "cell A": the cell has no such device \(it has "arm", "press"\)/);
      await refused('arm', /cannot clear device "arm".*it owes nothing/);
      cell.clearDevice('press', 'operator Jo at panel 2');
      assert.deepEqual(debts.at(-1), {
        cell: 'cell A',
        device: 'press',
        owes: false,
        why: 'cleared by hand (it owed: its safe routine failed (press: safe routine failed))',
        source: 'operator Jo at panel 2',
      });
      await cell.reset('operator');
      assert.equal(cell.state, 'ready');
    });

    it('clearing is refused while the stop is under way, and for a device that is not connected', async () => {
      const { cell, device } = makeCell({ stopTimeoutMs: 40 });
      const psu = device('psu');
      psu.linkDown();
      const stopping = cell.estop('panel');
      assert.throws(() => cell.clearDevice('psu', 'op'), /the cell is aborting; a device is cleared only once the cell's stop has ended/);
      await stopping;
      assert.throws(() => cell.clearDevice('psu', 'op'), /it is disconnected; its stop goes out when its link returns/);
    });

    it('a second emergency stop over a latched cell reruns the safe routines of the devices not known safe, and only theirs', async () => {
      const { cell, device, log } = makeCell();
      device('arm');
      const press = device('press');
      press.safeFails = true;
      await cell.estop('panel');
      press.safeFails = false;
      log.length = 0;
      const report = await cell.estop('panel');
      assert.deepEqual(log.filter((l) => l.startsWith('safe ')), ['safe press']);
      assert.deepEqual(report.unsafe, []);
      await cell.reset('operator');
    });

    it('a device that refuses a reset-free stop by design is refused at deploy: its stop bound must be well below the stop timeout', () => {
      const cell = new AbortContext({ name: 'cell A', stopTimeoutMs: 2000 });
      class SlowStop extends PlainDevice {
        override get stopBoundMs(): number {
          return 1500;
        }
        override get stopBoundDetail(): string {
          return 'its emergency-stop hold';
        }
      }
      assert.throws(
        () => cell.addDevice(new SlowStop('Mill')),
        /Mill: its stop takes up to 1500 ms by design \(its emergency-stop hold\), which is not well below the stop timeout of cell "cell A" \(2000 ms\): every stop would time out; keep it at most 1000 ms or raise the cell's stop timeout to at least 3000 ms/,
      );
      assert.deepEqual(cell.devices, []);
    });
  });

  describe('a trip always wins', () => {
    it('resume racing an emergency stop never un-latches the cell, and the device never writes its resume once the stop has begun', async () => {
      const { cell, device } = makeCell();
      const gantry = device('gantry');
      gantry.resumeMs = 20;
      const run = cell.startRun({ sequence: 's' });
      const step = run.runStep('move', (signal) => gantry.execute('move', { position: 5, ms: 60_000 }, { signal, runId: run.id }));
      await until(() => gantry.status === 'busy', 'the move');
      await cell.hold('operator');
      const resuming = cell.resume('operator');
      await tick();
      const report = await cell.estop('panel');
      const err = await rejection(resuming);
      assert.ok(err instanceof WorkcellError);
      assert.match(err.message, /resume of cell "cell A" interrupted: the cell tripped \(panel\); it stays latched until a reset/);
      assert.equal(cell.state, 'aborted');
      assert.equal(report.kind, 'estop');
      await rejection(step);
      await sleep(30);
      assert.deepEqual(gantry.log.filter((e) => e.what === 'resume'), [], 'no resume was written');
      assert.equal(cell.state, 'aborted');
      await cell.reset('operator');
      assert.equal(cell.state, 'ready');
    });

    it('the signal a device gets for pause and resume fires when the trip begins (after every stop frame)', async () => {
      const { cell, device } = makeCell();
      const gantry = device('gantry');
      let signal: AbortSignal | undefined;
      gantry.resume = async (s?: AbortSignal) => {
        signal = s;
      };
      const run = cell.startRun({ sequence: 's' });
      void run.runStep('move', (sig) => gantry.execute('move', { position: 5, ms: 60_000 }, { signal: sig, runId: run.id })).catch(() => undefined);
      await until(() => gantry.status === 'busy', 'the move');
      await cell.hold('operator');
      await cell.resume('operator');
      assert.equal(signal?.aborted, false);
      void cell.estop('panel');
      assert.equal(signal?.aborted, true);
      assert.ok(signal?.reason instanceof EStop);
    });

    it('a hold racing an emergency stop ends with an error and the cell stays latched', async () => {
      const { cell, device } = makeCell();
      const gantry = device('gantry');
      let release!: () => void;
      gantry.pause = () => new Promise<void>((resolve) => (release = resolve));
      const run = cell.startRun({ sequence: 's' });
      void run.runStep('move', (sig) => gantry.execute('move', { position: 5, ms: 60_000 }, { signal: sig, runId: run.id })).catch(() => undefined);
      await until(() => gantry.status === 'busy', 'the move');
      const holding = cell.hold('operator');
      await cell.estop('panel');
      release();
      assert.match(((await rejection(holding)) as Error).message, /hold of cell "cell A" interrupted: the cell tripped \(panel\); it stays latched until a reset/);
      assert.equal(cell.state, 'aborted');
    });

    it('a device whose link drops during the reset owes its stop: the reset fails naming it and the cell stays latched', async () => {
      const { cell, device } = makeCell();
      const arm = device('arm');
      await cell.estop('panel');
      arm.resetMs = 20;
      const resetting = cell.reset('operator');
      await tick();
      arm.linkDown();
      const err = (await rejection(resetting)) as Error;
      assert.match(err.message, /cannot reset cell "cell A": device arm is not known to be stopped and safe: its link dropped while the cell was stopped/);
      assert.equal(cell.state, 'aborted');
      arm.linkBack();
      await until(() => !arm.owesStop, 'the owed stop to be paid');
      await cell.reset('operator');
      assert.equal(cell.state, 'ready');
    });

    it('a reset during a trip is refused; a trip during a reset wins', async () => {
      const { cell, device } = makeCell();
      device('arm').safeMs = 20;
      const stopping = cell.estop('panel');
      assert.match(await resetError(cell), /it is aborting, not aborted/);
      await stopping;
      const a = device('slow-reset');
      await until(() => !a.owesStop, 'the joiner to be made safe');
      a.resetMs = 30;
      const resetting = cell.reset('operator');
      await tick();
      await cell.estop('MQTT');
      assert.match(((await rejection(resetting)) as Error).message, /an emergency stop \(panel, MQTT\) tripped during the reset/);
      assert.equal(cell.state, 'aborted');
    });

    it('a halt during an emergency stop\'s safe phase cancels the safe routines still running (their devices get their stop again), skips those to come, and the report says halt', async () => {
      const { cell, device, log } = makeCell();
      const press = device('press', 0);
      press.safeMs = 60_000;
      device('robot', 1);
      const stopping = cell.estop('panel');
      await until(() => log.includes('safe press'), 'the press safe routine to start');
      const halting = cell.halt('collision sensor');
      assert.equal(halting, stopping, 'the halt joins the stop under way');
      const report = await stopping;
      assert.deepEqual(log.filter((l) => l.startsWith('stop ')), ['stop press', 'stop robot', 'stop press', 'stop robot']);
      assert.equal(log.includes('safe robot'), false, 'the safe routine to come did not start');
      assert.equal(report.kind, 'halt');
      assert.deepEqual(report.sources, ['panel', 'collision sensor']);
      const row = (name: string) => report.devices.find((d) => d.device === name)!;
      assert.equal(row('press').safe, 'cancelled');
      assert.match(row('press').safeError ?? '', /halt \(collision sensor\)/);
      assert.equal(row('robot').safe, 'skipped');
      assert.deepEqual(report.unsafe.map((u) => u.device), ['press']);
      assert.match(report.unsafe[0].why, /its safe routine was cut short by a halt/);
    });

    it('a step that passed its checkpoint but still waits for its device does not start while the cell is held', async () => {
      const cell = new AbortContext({ name: 'cell A' });
      const lathe = new PlainDevice('lathe');
      cell.addDevice(lathe);
      const r1 = cell.startRun({ sequence: 'first' });
      const r2 = cell.startRun({ sequence: 'second' });
      const first = r1.runStep('turn', (signal) => lathe.execute('move', { position: 1, ms: 40 }, { signal, runId: r1.id }));
      await tick();
      // r2 passed its checkpoint: its step now waits for the device r1 holds.
      (await cell.checkpoint(r2.id, 'second: turn')).throwIfCancelled();
      const second = r2.runStep('turn', (signal) => lathe.execute('move', { position: 2, ms: 0 }, { signal, runId: r2.id }));
      await cell.hold('operator');
      await first;
      r1.complete();
      await until(() => lathe.owner === r2.id || lathe.owner === null, 'r1 to release the lathe');
      for (let i = 0; i < 5; i++) await tick();
      assert.deepEqual(lathe.log, ['perform move', 'done move'], 'the waiting step did not start while held');
      await cell.resume('operator');
      await second;
      assert.deepEqual(lathe.log, ['perform move', 'done move', 'perform move', 'done move']);
    });
  });

  describe('cancel run', () => {
    it('the run has ended, its outcome emitted, before cancelRun returns its promise', () => {
      const { cell, device } = makeCell();
      device('arm');
      const run = cell.startRun({ sequence: 's' });
      const ended: string[] = [];
      cell.on('run-end', (r: { run: string; outcome: string }) => ended.push(`${r.run} ${r.outcome}`));
      const cancelling = cell.cancelRun(run.id, 'operator');
      assert.deepEqual(ended, [`${run.id} cancelled`]);
      assert.equal(run.result?.outcome, 'cancelled');
      return cancelling;
    });
  });

  describe('an honest stop report', () => {
    it('stopMs is measured for a stop that failed at once, not set to the timeout', async () => {
      const { cell, device } = makeCell({ stopTimeoutMs: 10_000 });
      device('psu').stopFails = true;
      const report = await cell.estop('panel');
      const row = report.devices[0];
      assert.equal(row.stop, 'failed');
      assert.notEqual(row.stopMs, 10_000);
      assert.ok(row.stopMs <= report.durationMs, 'within the stop as a whole');
    });
  });

  describe('the latch', () => {
    it('is announced on entering aborting, before any safe routine and before the report', async () => {
      const { cell, device, log, latches } = makeCell();
      device('arm');
      await cell.estop('panel');
      assert.deepEqual(log.slice(0, 3), ['stop arm', 'state aborting', 'latch panel']);
      assert.ok(log.indexOf('latch panel') < log.indexOf('safe arm'));
      assert.deepEqual(latches[0], { cell: 'cell A', sources: ['panel'], persistent: true });
      await cell.reset('operator');
      assert.deepEqual(latches.at(-1), { cell: 'cell A', sources: [], persistent: false });
    });

    it('a redeploy is a typed flag, never a source text: only a latch made of redeploy trips is not persistent', async () => {
      const a = makeCell();
      await a.cell.estop('redeploy', { redeploy: true });
      assert.equal(a.latches.at(-1)?.persistent, false);
      await a.cell.estop('panel');
      assert.deepEqual(a.latches.at(-1), { cell: 'cell A', sources: ['redeploy', 'panel'], persistent: true });
      const b = makeCell();
      await b.cell.estop('redeploy: someone typed this in msg.source');
      assert.equal(b.latches.at(-1)?.persistent, true);
    });
  });
});
