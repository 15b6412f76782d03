import assert from 'node:assert/strict';
import { AbortContext, AbortContextOptions, CellState, Cancelled, EStop, RunResult, StopReport, WorkcellError, sleep } from '../../lib';
import { PlainDevice, TestDevice, rejection, tick, until } from './helpers';

interface Cell {
  cell: AbortContext;
  log: string[];
  states: string[];
  reports: StopReport[];
  device(name: string, safeGroup?: number, options?: { ownership?: 'wait' | 'fail-fast'; critical?: boolean }): TestDevice;
}

function makeCell(options: Partial<AbortContextOptions> = {}): Cell {
  const cell = new AbortContext({ name: 'cell A', ...options });
  const log: string[] = [];
  const states: string[] = [];
  const reports: StopReport[] = [];
  cell.on('state', (s: { from: CellState; to: CellState }) => states.push(`${s.from}→${s.to}`));
  cell.on('stop-report', (r: StopReport) => reports.push(r));
  return {
    cell,
    log,
    states,
    reports,
    device(name, safeGroup = 0, opts = {}) {
      const d = new TestDevice(name, log, opts);
      cell.addDevice(d, safeGroup);
      return d;
    },
  };
}

/** A step running a long move on `device` inside `run`. */
function longMove(cell: AbortContext, runId: string, device: TestDevice) {
  const run = cell.getRun(runId)!;
  return run.runStep(`move ${device.name}`, (signal) => device.execute('move', { position: 10, ms: 60_000 }, { signal, runId }));
}

const byDevice = (r: StopReport) => Object.fromEntries(r.devices.map((d) => [d.device, `${d.stop}/${d.safe}`]));

describe('AbortContext', () => {
  describe('states and runs', () => {
    it('ready → running when a run starts, and back to ready when the last run ends', () => {
      const { cell, states } = makeCell();
      const started: string[] = [];
      const ended: RunResult[] = [];
      cell.on('run-start', (r) => started.push(r.id));
      cell.on('run-end', (r: RunResult) => ended.push(r));
      assert.equal(cell.state, 'ready');
      const a = cell.startRun({ sequence: 'a' });
      const b = cell.startRun({ sequence: 'b' });
      assert.equal(cell.state, 'running');
      assert.deepEqual(cell.activeRuns.map((r) => r.id), [a.id, b.id]);
      assert.equal(cell.getRun(a.id), a);
      a.complete();
      assert.equal(cell.state, 'running');
      b.complete();
      assert.equal(cell.state, 'ready');
      assert.deepEqual(states, ['ready→running', 'running→ready']);
      assert.deepEqual(started, [a.id, b.id]);
      assert.deepEqual(ended.map((r) => [r.run, r.outcome]), [[a.id, 'completed'], [b.id, 'completed']]);
      assert.equal(cell.getRun(a.id), undefined, 'only runs in progress are kept');
    });

    it("a run's options (deadline, branch policy) are passed through: a run deadline ends it timed-out", async () => {
      const { cell } = makeCell();
      const run = cell.startRun({ sequence: 'soak', timeoutMs: 10, policy: 'report-only' });
      assert.equal(run.policy, 'report-only');
      await rejection(run.runStep('soak', (s) => sleep(60_000, s)));
      assert.equal(run.result?.outcome, 'timed-out');
      assert.equal(cell.state, 'ready');
    });

    it("a run's devices are released when it ends", async () => {
      const { cell, device } = makeCell();
      const arm = device('arm');
      const run = cell.startRun({ sequence: 's' });
      await run.runStep('noop', (signal) => arm.execute('noop', {}, { signal, runId: run.id }));
      assert.equal(arm.owner, run.id);
      run.complete();
      assert.equal(arm.owner, null);
    });

    it('device health is forwarded as cell events and listed by the cell', () => {
      const { cell, device } = makeCell();
      const seen: string[] = [];
      cell.on('device-health', (h) => seen.push(`${h.device}:${h.status}`));
      const oven = device('oven');
      oven.setStatusTo('disconnected', 'cable');
      assert.deepEqual(seen, ['oven:ready', 'oven:disconnected']);
      assert.deepEqual(cell.devices.map((h) => [h.device, h.status]), [['oven', 'disconnected']]);
    });

    it('a second device with the same name is refused; a removed device is no longer reached', async () => {
      const { cell, device, log } = makeCell();
      const a = device('a');
      assert.throws(() => cell.addDevice(new TestDevice('a')), (e) => e instanceof WorkcellError && e.code === 'duplicate-device' && /already has a device named "a"/.test(e.message));
      cell.removeDevice(a);
      a.critical = true;
      a.raiseFault('after removal');
      await tick();
      assert.equal(cell.state, 'ready', 'a removed device no longer trips the cell');
      await cell.estop('panel');
      assert.deepEqual(log, []);
    });
  });

  describe('emergency stop', () => {
    it('an emergency stop reaches every device, and all stop()s are issued before any safe() starts', async () => {
      const { cell, device, log } = makeCell();
      device('press', 0);
      device('robot', 1);
      device('oven', 0).safeMs = 5;
      const report = await cell.estop('panel');
      const stops = log.filter((e) => e.startsWith('stop'));
      assert.deepEqual(stops.sort(), ['stop oven', 'stop press', 'stop robot']);
      const lastStop = Math.max(...stops.map((s) => log.indexOf(s)));
      const firstSafe = log.findIndex((e) => e.startsWith('safe'));
      assert.ok(lastStop < firstSafe, log.join(', '));
      assert.deepEqual(byDevice(report), { press: 'stopped/safe', robot: 'stopped/safe', oven: 'stopped/safe' });
    });

    it('every stop frame leaves in one synchronous pass, before any run is cancelled and before the state event', () => {
      const { cell, device, log } = makeCell();
      device('a');
      device('b');
      const run = cell.startRun({ sequence: 's' });
      run.on('end', () => log.push('run ended'));
      cell.on('state', (s) => log.push(`state ${s.to}`));
      void cell.estop('panel');
      assert.deepEqual(log, ['stop a', 'stop b', 'state aborting', 'run ended']);
    });

    it('every run is cancelled with EStop: each ends aborted and its awaiting operation resumes with the reason', async () => {
      const { cell, device, reports } = makeCell();
      const arm = device('arm');
      const oven = device('oven');
      const r1 = cell.startRun({ sequence: 'pick' });
      const r2 = cell.startRun({ sequence: 'bake' });
      const s1 = longMove(cell, r1.id, arm);
      const s2 = longMove(cell, r2.id, oven);
      await until(() => arm.log.length > 0 && oven.log.length > 0, 'both moves');
      const report = await cell.estop('panel');
      for (const err of await Promise.all([rejection(s1), rejection(s2)])) {
        assert.ok(err instanceof EStop);
        assert.equal(err.source, 'panel');
      }
      assert.deepEqual([r1.result?.outcome, r2.result?.outcome], ['aborted', 'aborted']);
      assert.deepEqual(report.runs.map((r) => [r.sequence, r.outcome]), [['pick', 'aborted'], ['bake', 'aborted']]);
      assert.deepEqual(cell.activeRuns, []);
      assert.equal(reports.length, 1);
      assert.deepEqual(arm.log.map((e) => e.what), ['perform', 'stop', 'safe', 'safe-done'], 'a stop, not a per-operation abort, on top of the stop');
    });

    it('states go ready → aborting → aborted, and the report is emitted once the cell has latched', async () => {
      const { cell, device, states } = makeCell();
      device('a');
      let stateAtReport: string | undefined;
      cell.on('stop-report', () => (stateAtReport = cell.state));
      const p = cell.estop('panel');
      assert.equal(cell.state, 'aborting');
      const report = await p;
      assert.equal(cell.state, 'aborted');
      assert.equal(stateAtReport, 'aborted');
      assert.deepEqual(states, ['ready→aborting', 'aborting→aborted']);
      assert.deepEqual([report.kind, report.cell, report.source], ['estop', 'cell A', 'panel']);
      assert.equal(cell.lastReport, report);
      assert.deepEqual(cell.tripSources, ['panel']);
    });

    it('safe routines run group by group, concurrently within a group', async () => {
      const { cell, device, log } = makeCell();
      device('press', 0).safeMs = 15;
      device('welder', 0).safeMs = 15;
      device('robot', 1).safeMs = 5;
      device('conveyor', 2);
      await cell.estop('panel');
      const safeLog = log.filter((e) => e.startsWith('safe'));
      assert.deepEqual(safeLog.slice(0, 2), ['safe press', 'safe welder'], 'both of group 0 start before either finishes');
      assert.deepEqual(new Set(safeLog.slice(2, 4)), new Set(['safe-done press', 'safe-done welder']));
      assert.deepEqual(safeLog.slice(4), ['safe robot', 'safe-done robot', 'safe conveyor', 'safe-done conveyor']);
      assert.deepEqual(cell.lastReport?.devices.map((d) => [d.device, d.safeGroup]), [['press', 0], ['welder', 0], ['robot', 1], ['conveyor', 2]]);
    });

    it('safe routines run shielded: their signal is untouched by the emergency stop that cancelled everything else', async () => {
      const { cell, device } = makeCell();
      const d = device('oven');
      let safeSignal: AbortSignal | undefined;
      d.safe = async (signal: AbortSignal) => {
        safeSignal = signal;
        await sleep(5, signal);
      };
      const report = await cell.estop('panel');
      assert.equal(safeSignal?.aborted, false);
      assert.equal(report.devices[0].safe, 'safe');
    });

    it('the emergency stop report says stopped / safe / failed / timed out per device', async () => {
      const { cell, device } = makeCell({ stopTimeoutMs: 30, safeTimeoutMs: 30 });
      device('ok');
      device('stop-fails').stopFails = true;
      device('stop-hangs').stopHangs = true;
      device('safe-fails').safeFails = true;
      device('safe-slow').safeMs = 10_000;
      const report = await cell.estop('panel');
      assert.deepEqual(byDevice(report), {
        ok: 'stopped/safe',
        'stop-fails': 'failed/safe',
        'stop-hangs': 'timed-out/safe',
        'safe-fails': 'stopped/failed',
        'safe-slow': 'stopped/timed-out',
      });
      const get = (name: string) => report.devices.find((d) => d.device === name)!;
      assert.deepEqual([get('ok').stopError, get('ok').safeError], [null, null]);
      assert.match(get('stop-fails').stopError ?? '', /stop-fails: stop not acknowledged/);
      assert.equal(get('stop-fails').safeError, null, "the stop's error and the safe routine's are kept apart");
      assert.match(get('stop-hangs').stopError ?? '', /^stop-hangs: stop: no acknowledgement within 30 ms$/);
      assert.match(get('safe-fails').safeError ?? '', /safe-fails: safe routine failed/);
      assert.equal(get('safe-fails').stopError, null);
      assert.match(get('safe-slow').safeError ?? '', /safe-slow: safe routine: no confirmation within 30 ms/);
      assert.ok(get('stop-hangs').stopMs >= 29, 'a timed-out stop took at least the timeout (to the timer\'s millisecond)');
      assert.ok(get('ok').safeMs !== null && get('ok').stopMs >= 0);
      assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'the report is plain data');
    });

    it('new runs are refused while the cell is aborted (and while it is aborting), naming the trip', async () => {
      const { cell } = makeCell();
      const p = cell.estop('MQTT cell/estop');
      const whileAborting = (() => {
        try {
          cell.startRun({ sequence: 'bake' });
        } catch (e) {
          return e as WorkcellError;
        }
      })();
      assert.match(whileAborting?.message ?? '', /cannot start sequence "bake": cell "cell A" is stopping/);
      await p;
      assert.throws(
        () => cell.startRun({ sequence: 'bake' }),
        (e) =>
          e instanceof WorkcellError &&
          e.code === 'cell-aborted' &&
          e.message === 'cannot start sequence "bake": cell "cell A" is aborted (emergency stop by MQTT cell/estop); reset it first',
      );
    });

    it('nothing moves until an explicit reset: checkpoints refuse work, inside or outside a run', async () => {
      const { cell } = makeCell();
      const run = cell.startRun({ sequence: 's' });
      await cell.estop('panel');
      for (const id of [undefined, run.id]) {
        const err = await rejection(cell.checkpoint(id, 'move X'));
        assert.ok(err instanceof WorkcellError);
        assert.equal(err.code, 'cell-aborted');
        assert.match(err.message, /^move X: refused: cell "cell A" is aborted/);
        assert.ok(err.cause instanceof EStop);
      }
    });

    it('halt is an emergency stop without safe routines', async () => {
      const { cell, device, log } = makeCell();
      device('gantry');
      const run = cell.startRun({ sequence: 's' });
      const report = await cell.halt('collision sensor');
      assert.deepEqual(log, ['stop gantry']);
      assert.deepEqual([report.kind, byDevice(report).gantry, report.devices[0].safeMs], ['halt', 'stopped/skipped', null]);
      assert.equal(run.result?.outcome, 'aborted');
      assert.match(run.result?.error ?? '', /halt \(collision sensor\)/);
      assert.equal(cell.state, 'aborted');
    });

    it('a trip while already aborting writes every stop frame again, joins the stop under way and latches its source', async () => {
      const { cell, device, log } = makeCell();
      device('oven').safeMs = 10;
      const first = cell.estop('panel');
      const second = cell.estop('MQTT');
      assert.equal(second, first);
      assert.deepEqual(log, ['stop oven', 'stop oven'], 'the second trip wrote the stop again at once');
      const report = await first;
      assert.deepEqual(log, ['stop oven', 'stop oven', 'safe oven', 'safe-done oven']);
      assert.deepEqual(cell.tripSources, ['panel', 'MQTT']);
      assert.deepEqual(report.sources, ['panel', 'MQTT']);
    });

    it('a second trip while latched reaches every device again but does not rerun safe routines', async () => {
      const { cell, device, log, reports, states } = makeCell();
      device('a');
      device('b');
      await cell.estop('panel');
      log.length = 0;
      const report = await cell.estop('MQTT');
      assert.deepEqual(log, ['stop a', 'stop b']);
      assert.deepEqual(byDevice(report), { a: 'stopped/skipped', b: 'stopped/skipped' });
      assert.equal(reports.length, 2);
      assert.equal(cell.state, 'aborted');
      assert.deepEqual(states.slice(-2), ['aborted→aborting', 'aborting→aborted']);
      assert.deepEqual(cell.tripSources, ['panel', 'MQTT']);
    });

    it('work outside any run runs under a child of the cell scope, so an emergency stop reaches it too', async () => {
      const { cell } = makeCell();
      const scope = await cell.checkpoint(undefined, 'manual jog');
      const p = sleep(60_000, scope.signal);
      void cell.estop('panel');
      assert.ok((await rejection(p)) instanceof EStop);
    });

    it('an emergency stop while held releases the waiting steps with EStop', async () => {
      const { cell } = makeCell();
      const run = cell.startRun({ sequence: 's' });
      await cell.hold('operator');
      const waiting = cell.checkpoint(run.id, 'step 2');
      const outside = cell.checkpoint(undefined, 'jog');
      await tick();
      await cell.estop('panel');
      assert.ok((await rejection(waiting)) instanceof EStop);
      assert.ok((await rejection(outside)) instanceof EStop);
    });
  });

  describe('trip sources', () => {
    it('a critical fault during an emergency stop joins it (its stop written again) rather than starting another', async () => {
      const { cell, device, log } = makeCell();
      const press = device('press', 0, { critical: true });
      press.safeMs = 10;
      const first = cell.estop('panel');
      press.raiseFault('overload');
      await first;
      await cell.settled();
      assert.deepEqual(log, ['stop press', 'stop press', 'safe press', 'safe-done press']);
      assert.deepEqual(cell.tripSources, ['panel', 'critical fault on press: overload']);
    });


    it("a device's fault marked critical trips the cell; a non-critical one does not", async () => {
      const { cell, device, log } = makeCell();
      const sensor = device('sensor');
      const press = device('press', 0, { critical: true });
      sensor.raiseFault('reading out of range');
      await tick();
      assert.equal(cell.state, 'ready');
      press.raiseFault('light curtain broken');
      await cell.settled();
      assert.equal(cell.state, 'aborted');
      assert.deepEqual(cell.tripSources, ['critical fault on press: light curtain broken']);
      assert.deepEqual(log.filter((e) => e.startsWith('stop')), ['stop sensor', 'stop press']);
    });

    it('activating a trip source trips an emergency stop and emits trip-source; clearing it emits again', async () => {
      const { cell, device, log } = makeCell();
      device('robot');
      const events: unknown[] = [];
      cell.on('trip-source', (e) => events.push(e));
      const report = await cell.setTripSource('heartbeat', true, 'no heartbeat from PLC for 3 s');
      assert.equal(report?.kind, 'estop');
      assert.equal(report?.source, 'heartbeat: no heartbeat from PLC for 3 s');
      assert.deepEqual(log, ['stop robot', 'safe robot', 'safe-done robot']);
      assert.deepEqual(cell.activeTrips, { heartbeat: 'no heartbeat from PLC for 3 s' });
      assert.equal(cell.setTripSource('heartbeat', false), undefined);
      assert.deepEqual(cell.activeTrips, {});
      assert.deepEqual(events, [
        { id: 'heartbeat', active: true, detail: 'no heartbeat from PLC for 3 s' },
        { id: 'heartbeat', active: false, detail: 'heartbeat' },
      ]);
    });

    it('a trip source can ask for a halt instead', async () => {
      const { cell, device, log } = makeCell();
      device('press');
      const report = await cell.setTripSource('overtravel', true, 'limit switch', 'halt');
      assert.equal(report?.kind, 'halt');
      assert.deepEqual(log, ['stop press']);
    });

    it('activating a trip source while the cell is already aborted does not trip again, but blocks reset', async () => {
      const { cell, device, log } = makeCell();
      device('robot');
      await cell.estop('panel');
      log.length = 0;
      assert.equal(cell.setTripSource('mqtt', true, 'retained E-stop'), undefined);
      await tick();
      assert.deepEqual(log, []);
      assert.equal(cell.state, 'aborted');
      await assert.rejects(cell.reset('operator'), /trip source mqtt is still active \(retained E-stop\)/);
    });

    it('a cell restarted latched (after a redeploy) stays aborted, naming the sources, until reset', async () => {
      const cell = new AbortContext({ name: 'cell A', startAborted: ['panel', 'redeploy'] });
      assert.equal(cell.state, 'aborted');
      assert.deepEqual(cell.tripSources, ['panel', 'redeploy']);
      assert.throws(() => cell.startRun({ sequence: 's' }), /aborted \(emergency stop by panel, redeploy\); reset it first/);
      await cell.reset('operator');
      assert.equal(cell.state, 'ready');
      assert.deepEqual(cell.tripSources, []);
      assert.equal(cell.startRun({ sequence: 's' }).ended, false);
    });
  });

  describe('reset', () => {
    it('reset is refused while a trip source is active, naming it', async () => {
      const { cell } = makeCell();
      await cell.setTripSource('mqtt', true, 'retained message on cell/estop');
      const err = await rejection(cell.reset('operator'));
      assert.ok(err instanceof WorkcellError);
      assert.equal(err.code, 'reset-refused');
      assert.equal(err.message, 'cannot reset cell "cell A": trip source mqtt is still active (retained message on cell/estop)');
      assert.equal(cell.state, 'aborted');
      cell.setTripSource('mqtt', false);
      await cell.reset('operator');
      assert.equal(cell.state, 'ready');
    });

    it('reset is refused while a device is still in fault, and gives every reason at once', async () => {
      const { cell, device } = makeCell();
      device('press').lastingFault = 'guard door open';
      device('oven').lastingFault = 'thermocouple break';
      await cell.setTripSource('heartbeat', true, 'lost');
      const err = await rejection(cell.reset('operator'));
      assert.equal(
        (err as Error).message,
        'cannot reset cell "cell A": trip source heartbeat is still active (lost); device press is still in fault (guard door open); device oven is still in fault (thermocouple break)',
      );
    });

    it('reset clears device alarms and returns to ready with a fresh scope: runs can start again', async () => {
      const { cell, device, log, states } = makeCell();
      const press = device('press');
      press.raiseFault('overload');
      await cell.estop('panel');
      log.length = 0;
      await cell.reset('operator');
      assert.deepEqual(log, ['reset press']);
      assert.deepEqual([press.status, press.health.fault], ['ready', null]);
      assert.deepEqual(states.slice(-2), ['aborted→resetting', 'resetting→ready']);
      assert.deepEqual(cell.tripSources, []);
      const run = cell.startRun({ sequence: 's' });
      assert.equal(run.scope.cancelled, false);
      assert.equal(cell.state, 'running');
      assert.equal(await run.runStep('noop', (signal) => press.execute('noop', {}, { signal, runId: run.id }).then(() => 'ok')), 'ok');
    });

    it('reset is refused unless the cell is aborted', async () => {
      const { cell } = makeCell();
      const err = await rejection(cell.reset('operator'));
      assert.equal((err as WorkcellError).code, 'not-aborted');
      assert.match((err as Error).message, /cannot reset cell "cell A": it is ready, not aborted/);
    });

    it('a device whose alarm does not clear leaves the cell aborted and the error names it; each clearing is bounded', async () => {
      const { cell, device } = makeCell({ resetTimeoutMs: 20 });
      device('press').resetFails = true;
      device('gantry').resetMs = 10_000;
      device('oven');
      await cell.estop('panel');
      const err = await rejection(cell.reset('operator'));
      assert.equal((err as WorkcellError).code, 'reset-failed');
      assert.match((err as Error).message, /cannot reset cell "cell A": press: press: alarm will not clear; gantry: gantry: reset timed out after 20 ms/);
      assert.equal(cell.state, 'aborted');
      assert.throws(() => cell.startRun({ sequence: 's' }), /is aborted/);
    });

    it('new runs are refused while the cell is resetting', async () => {
      const { cell, device } = makeCell();
      device('gantry').resetMs = 20;
      await cell.estop('panel');
      const resetting = cell.reset('operator');
      assert.equal(cell.state, 'resetting');
      assert.throws(() => cell.startRun({ sequence: 's' }), /cell "cell A" is resetting/);
      await resetting;
      assert.equal(cell.state, 'ready');
    });

    it('a trip during a reset wins: the reset is refused and the cell stays latched', async () => {
      const { cell, device } = makeCell();
      device('gantry').resetMs = 20;
      await cell.estop('panel');
      const resetting = cell.reset('operator');
      await tick();
      const second = cell.estop('light curtain');
      const err = await rejection(resetting);
      await second;
      await cell.settled();
      assert.ok(err instanceof WorkcellError);
      assert.match(err.message, /light curtain/);
      assert.equal(cell.state, 'aborted');
      assert.deepEqual(cell.tripSources, ['panel', 'light curtain'], 'the interrupted reset cleared nothing');
      assert.throws(() => cell.startRun({ sequence: 's' }), /is aborted/);
    });
  });

  describe('hold and resume', () => {
    it('hold stops work at the next checkpoint and resume releases it', async () => {
      const { cell, states } = makeCell();
      const run = cell.startRun({ sequence: 's' });
      await cell.hold('operator');
      assert.equal(cell.state, 'held');
      let passed = false;
      const waiting = cell.checkpoint(run.id, 'step 2').then((scope) => {
        passed = true;
        return scope;
      });
      await sleep(5);
      assert.equal(passed, false);
      await cell.resume('operator');
      assert.equal(await waiting, run.scope);
      assert.equal(cell.state, 'running');
      assert.deepEqual(states, ['ready→running', 'running→held', 'held→running']);
    });

    it('a checkpoint passes at once when the cell is not held', async () => {
      const { cell } = makeCell();
      const run = cell.startRun({ sequence: 's' });
      assert.equal(await cell.checkpoint(run.id, 'x'), run.scope);
      const scope = await cell.checkpoint(undefined, 'jog');
      assert.equal(scope.parent?.name, 'cell cell A');
      scope.close();
    });

    it('hold pauses busy devices that can pause; devices that cannot finish their step; resume releases both', async () => {
      const { cell, device } = makeCell();
      const gantry = device('gantry');
      const idle = device('idle pausable');
      const heater = new PlainDevice('heater');
      cell.addDevice(heater);
      const run = cell.startRun({ sequence: 's' });
      const move = run.runStep('move', (signal) => gantry.execute('move', { position: 3, ms: 30 }, { signal, runId: run.id }));
      const heat = run.runStep('heat', (signal) => heater.execute('move', { position: 1, ms: 15 }, { signal, runId: run.id }));
      await until(() => gantry.log.length > 0 && heater.log.length > 0, 'both steps');
      await cell.hold('operator');
      assert.deepEqual(gantry.log.map((e) => e.what), ['perform', 'pause']);
      assert.deepEqual(idle.log, [], 'an idle device is not paused');
      await heat;
      assert.deepEqual(heater.log, ['perform move', 'done move'], 'the non-pausable device finished its step while held');
      await sleep(40);
      assert.equal(gantry.position, 0, 'the paused gantry has not finished');
      await cell.resume('operator');
      assert.deepEqual(await move, { position: 3 });
      assert.deepEqual(gantry.log.map((e) => e.what), ['perform', 'pause', 'resume']);
    });

    it('a run can start while held, and its steps wait at their checkpoint; resume with no runs returns to ready', async () => {
      const { cell } = makeCell();
      await cell.hold('operator');
      assert.equal(cell.state, 'held');
      const run = cell.startRun({ sequence: 's' });
      assert.equal(cell.state, 'held');
      run.complete();
      assert.equal(cell.state, 'held');
      await cell.hold('again');
      await cell.resume('operator');
      assert.equal(cell.state, 'ready');
    });

    it('a step waiting at a held checkpoint ends with the reason when its run is cancelled', async () => {
      const { cell } = makeCell();
      const run = cell.startRun({ sequence: 's' });
      await cell.hold('operator');
      const waiting = cell.checkpoint(run.id, 'x');
      run.cancel(new Cancelled('operator'));
      assert.ok((await rejection(waiting)) instanceof Cancelled);
    });

    it('hold is refused once aborted, and resume unless held', async () => {
      const { cell } = makeCell();
      await assert.rejects(cell.resume('x'), (e) => e instanceof WorkcellError && e.code === 'cannot-resume' && /it is ready, not held/.test(e.message));
      await cell.estop('panel');
      await assert.rejects(cell.hold('x'), (e) => e instanceof WorkcellError && e.code === 'cannot-hold' && /cannot hold cell "cell A": it is aborted/.test(e.message));
    });
  });

  describe('checkpoints', () => {
    it('a checkpoint for an unknown run is refused; for an ended run it throws the end reason', async () => {
      const { cell } = makeCell();
      const err = await rejection(cell.checkpoint('nope', 'move X'));
      assert.equal((err as WorkcellError).code, 'unknown-run');
      assert.match((err as Error).message, /move X: run "nope" is not in progress in cell "cell A"/);
      const run = cell.startRun({ sequence: 's' });
      run.complete();
      assert.equal(((await rejection(cell.checkpoint(run.id, 'x'))) as WorkcellError).code, 'unknown-run');
    });
  });

  describe('cancel run', () => {
    it('cancel-run: owned devices get stop then safe and are released only afterwards', async () => {
      const { cell, device, log } = makeCell();
      const arm = device('arm');
      arm.safeMs = 15;
      const bystander = device('bystander');
      const r1 = cell.startRun({ sequence: 'pick' });
      const r2 = cell.startRun({ sequence: 'place' });
      const s1 = rejection(longMove(cell, r1.id, arm));
      await until(() => arm.log.length > 0, 'the move');
      let r2GotArm = false;
      const s2 = r2
        .runStep('use arm', (signal) => arm.execute('noop', {}, { signal, runId: r2.id }))
        .then(() => {
          r2GotArm = true;
          log.push('r2 took arm');
        });
      const reportP = cell.cancelRun(r1.id, 'operator');
      assert.equal(r1.result?.outcome, 'cancelled');
      assert.equal(arm.owner, r1.id, 'still held while it is made safe');
      await sleep(5);
      assert.equal(r2GotArm, false);
      const report = await reportP;
      await s2;
      assert.ok((await s1) instanceof Cancelled);
      assert.deepEqual(log, ['stop arm', 'safe arm', 'safe-done arm', 'r2 took arm']);
      assert.deepEqual(bystander.log, [], 'devices the run does not own are left alone');
      assert.deepEqual([report.kind, report.source, report.runs], ['cancel', 'operator', [{ run: r1.id, sequence: 'pick', outcome: 'cancelled' }]]);
      assert.deepEqual(byDevice(report), { arm: 'stopped/safe' });
      assert.equal(r2.ended, false, 'other runs go on');
      assert.equal(cell.state, 'running');
    });

    it('the cancel-run report says stopped / timed out per owned device, with the stop time as measured', async () => {
      const { cell, device } = makeCell({ stopTimeoutMs: 25 });
      const arm = device('arm');
      const gripper = device('gripper');
      gripper.stopHangs = true;
      const run = cell.startRun({ sequence: 's' });
      for (const d of [arm, gripper]) await run.runStep('take', (signal) => d.execute('noop', {}, { signal, runId: run.id }));
      const report = await cell.cancelRun(run.id, 'operator');
      assert.deepEqual(byDevice(report), { arm: 'stopped/safe', gripper: 'timed-out/safe' });
      const gripperReport = report.devices.find((d) => d.device === 'gripper')!;
      assert.ok(gripperReport.stopMs >= 24, 'at least the timeout (to the timer\'s millisecond)');
      assert.match(gripperReport.stopError ?? '', /gripper: stop: no acknowledgement within 25 ms/);
      assert.deepEqual([arm.owner, gripper.owner], [null, null]);
    });

    it('cancel-run without safe routines only stops the devices the run owns', async () => {
      const { cell, device, log } = makeCell();
      const arm = device('arm');
      const run = cell.startRun({ sequence: 's' });
      await run.runStep('noop', (signal) => arm.execute('noop', {}, { signal, runId: run.id }));
      const report = await cell.cancelRun(run.id, 'operator', false);
      assert.deepEqual(log, ['stop arm']);
      assert.deepEqual(byDevice(report), { arm: 'stopped/skipped' });
      assert.equal(arm.owner, null);
      assert.equal(cell.state, 'ready', 'cancelling a run does not latch the cell');
    });

    it('cancel-run with another reason ends the run with that outcome', async () => {
      const { cell } = makeCell();
      const run = cell.startRun({ sequence: 's' });
      await cell.cancelRun(run.id, 'redeploy', true, new EStop('redeploy'));
      assert.equal(run.result?.outcome, 'aborted');
    });

    it('cancelling a run that is not in progress is refused naming it', async () => {
      const { cell } = makeCell();
      const err = await rejection(cell.cancelRun('gone', 'operator'));
      assert.equal((err as WorkcellError).code, 'unknown-run');
      assert.match((err as Error).message, /cannot cancel run "gone": it is not in progress in cell "cell A"/);
    });

    it('cancelAllRuns cancels every run without latching the cell', () => {
      const { cell } = makeCell();
      const runs = [cell.startRun({ sequence: 'a' }), cell.startRun({ sequence: 'b' })];
      cell.cancelAllRuns(new Cancelled('redeploy'));
      assert.deepEqual(runs.map((r) => r.result?.outcome), ['cancelled', 'cancelled']);
      assert.equal(cell.state, 'ready');
      assert.equal(cell.startRun({ sequence: 'c' }).ended, false);
    });
  });
});
