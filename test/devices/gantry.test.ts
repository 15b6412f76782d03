import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortContext } from '../../lib/cell';
import { Cancelled } from '../../lib';
import { GrblAlarmError, GrblCommandError, type GrblGantry, type GrblGantryOptions } from '../../lib/devices/gantry';
import type { GrblSimulator } from '../../lib/simulators/grbl';
import { Realtime } from '../../lib/simulators/grbl';
import { readyGantry, segments, startRelay, startSim, until, waitForStatus } from './gantry-fixtures';

const run = (g: GrblGantry, operation: string, params: Record<string, unknown> = {}, signal = new AbortController().signal) =>
  g.execute(operation, params, { signal });

const near = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-3, `${what}: ${actual} ≠ ${expected}`);

describe('GRBL gantry driver over TCP (GRBL 1.1h simulator)', function () {
  this.timeout(30_000);
  let sim: GrblSimulator;
  let address: string;
  let lines: string[];
  const opened: GrblGantry[] = [];
  const cleanups: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    ({ sim, address, lines } = await startSim());
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((g) => g.close()));
    for (const c of cleanups.splice(0)) await c();
    await sim.close();
  });

  async function gantry(options: Partial<GrblGantryOptions> = {}): Promise<GrblGantry> {
    const g = await readyGantry({ name: 'Mill', address, ...options });
    opened.push(g);
    return g;
  }
  async function homed(options: Partial<GrblGantryOptions> = {}): Promise<GrblGantry> {
    const g = await gantry(options);
    await run(g, 'home');
    return g;
  }

  describe('connection and homing', () => {
    it('connects on the banner, sees the power-up alarm lock, refuses moves until homed, then trusts the position', async () => {
      const g = await gantry();
      assert.equal(g.firmware, 'Grbl 1.1h');
      assert.equal(g.positionTrusted, false);
      assert.equal(g.health.detail, 'alarm — home with $H');
      assert.equal(g.lockout, 'alarm — home with $H', 'what the node status shows instead of ready');
      await assert.rejects(run(g, 'move', { x: -10, feed: 1000 }), { code: 'position-untrusted', message: 'Mill: move refused: the position can no longer be trusted; home the device first' });
      assert.ok(!lines.some((l) => l.startsWith('G')), 'no G-code was sent');
      const home = (await run(g, 'home')) as { state: string; machine: { x: number } };
      assert.equal(home.state, 'Idle');
      assert.deepEqual(home.machine, { x: -1, y: -1, z: -1 }, 'homed at travel max minus the 1 mm pull-off');
      assert.equal(g.positionTrusted, true);
      assert.equal(sim.homed, true);
      assert.equal(g.health.detail, 'Idle');
      assert.equal(g.lockout, null, 'homed and idle: it can move');
    });

    it('reads status: state, machine and work position, feed, spindle', async () => {
      const g = await homed();
      assert.deepEqual(await run(g, 'status'), {
        state: 'Idle', machine: { x: -1, y: -1, z: -1 }, work: { x: -1, y: -1, z: -1 }, feed: 0, spindle: 0, positionTrusted: true, alarm: null,
      });
    });

    it('publishes telemetry (state and position) while moving', async () => {
      const g = await homed();
      const seen: { state: string; machine: { x: number } }[] = [];
      g.on('telemetry', (t) => seen.push(t));
      await run(g, 'move', { x: -60, feed: 3000 });
      assert.ok(seen.some((t) => t.state === 'Run' && t.machine.x < -1 && t.machine.x > -60), `a report during the move: ${JSON.stringify(seen.map((t) => [t.state, t.machine.x]))}`);
      assert.deepEqual(seen.at(-1)?.machine, { x: -60, y: -1, z: -1 });
    });
  });

  describe('operations', () => {
    it('moves absolute (G1 and G0), relative, and in machine coordinates, ending when the motion has ended', async () => {
      const g = await homed();
      const a = (await run(g, 'move', { x: -50, y: -20, feed: 3000 })) as { state: string; machine: unknown };
      assert.deepEqual(a, { state: 'Idle', machine: { x: -50, y: -20, z: -1 }, work: { x: -50, y: -20, z: -1 } });
      assert.deepEqual(sim.machinePosition, { x: -50, y: -20, z: -1 });
      await run(g, 'move', { mode: 'relative', x: -5, z: -4, feed: 3000 });
      assert.deepEqual(sim.machinePosition, { x: -55, y: -20, z: -5 });
      await run(g, 'move', { x: -10, rapid: true });
      await run(g, 'move', { y: -30, coordinates: 'machine', feed: 2000 });
      assert.deepEqual(sim.machinePosition, { x: -10, y: -30, z: -5 });
      assert.deepEqual(lines.filter((l) => !l.startsWith('$')), [
        'G21 G90 G1 X-50 Y-20 F3000', 'G4 P0',
        'G21 G91 G1 X-5 Z-4 F3000', 'G90', 'G4 P0',
        'G21 G90 G0 X-10', 'G4 P0',
        'G21 G90 G53 G1 Y-30 F2000', 'G4 P0',
      ]);
      assert.equal(sim.parserState.modal.incremental, false, 'a relative move leaves GRBL in G90');
    });

    it('moves to work coordinates through the work offset GRBL reports', async () => {
      const g = await homed();
      await run(g, 'program', { gcode: 'G10 L20 P1 X0 Y0 Z0' }); // work zero here: WCO = (-1, -1, -1)
      const r = (await run(g, 'move', { x: -10, y: -5, feed: 3000 })) as { machine: unknown; work: unknown };
      assert.deepEqual(r.work, { x: -10, y: -5, z: 0 });
      assert.deepEqual(sim.machinePosition, { x: -11, y: -6, z: -1 });
      // X -289 in work coordinates is machine X -290: inside; -292 would be -293: outside.
      await assert.rejects(run(g, 'move', { x: -292, feed: 3000 }), /Mill: move refused: the X target \(machine coordinates\) -293 \(number\) is outside the limit -290 to 0 mm; nothing was sent/);
      await run(g, 'move', { x: -289, feed: 6000 });
      assert.equal(sim.machinePosition.x, -290);
    });

    it('jogs (relative and absolute) and ends when the jog has ended', async () => {
      const g = await homed();
      const r = (await run(g, 'jog', { x: -20, y: -5, feed: 2000 })) as { state: string; machine: unknown };
      assert.deepEqual(r, { state: 'Idle', machine: { x: -21, y: -6, z: -1 }, work: { x: -21, y: -6, z: -1 } });
      await run(g, 'jog', { mode: 'absolute', coordinates: 'machine', x: -40, feed: 2000 });
      assert.deepEqual(sim.machinePosition, { x: -40, y: -6, z: -1 });
      assert.deepEqual(lines.filter((l) => l.startsWith('$J')), ['$J=G21 G91 X-20 Y-5 F2000', '$J=G21 G53 X-40 F2000']);
      await assert.rejects(run(g, 'jog', { x: -5 }), /Mill: jog: parameter "feed" is required/);
    });

    it('switches the spindle on with speed and direction, and off', async () => {
      const g = await homed();
      assert.deepEqual(await run(g, 'spindle', { on: true, speed: 800, direction: 'ccw' }), { on: true, speed: 800, direction: 'ccw' });
      assert.deepEqual(sim.spindle, { on: true, cw: false, speed: 800 });
      await run(g, 'spindle', { on: false });
      assert.equal(sim.spindle.on, false);
      await assert.rejects(run(g, 'spindle', { on: true }), /Mill: spindle refused: switching the spindle on needs a speed \(speed, rpm\); nothing was sent/);
    });

    it('refuses unlock unless the device allows it; when allowed, $X clears the lock but the position stays untrusted', async () => {
      const g = await gantry();
      const before = lines.length;
      await assert.rejects(run(g, 'unlock'), /Mill: unlock refused: this device does not allow clearing an alarm without homing \(\$X\)/);
      assert.equal(lines.length, before, 'nothing was sent');
      await g.close();
      opened.splice(opened.indexOf(g), 1);

      const u = await gantry({ allowUnlock: true });
      assert.deepEqual(await run(u, 'unlock'), { state: 'Idle', positionTrusted: false });
      assert.equal(sim.state, 'Idle');
      assert.equal(u.lockout, 'not homed — home with $H', 'idle, yet it cannot move');
      await assert.rejects(run(u, 'move', { x: -10, feed: 1000 }), { code: 'position-untrusted' });
    });

    it('streams a program with character counting, reports progress, and never overflows the 128-byte buffer', async () => {
      const g = await homed();
      const program = `(test part)\n${segments(200, -1, -0.5, 6000)}\n; done\n`;
      const progress: number[] = [];
      let maxInFlight = 0;
      const sampler = setInterval(() => (maxInFlight = Math.max(maxInFlight, g.connection.inFlightCount)), 1);
      const result = (await g.execute('program', { gcode: program }, { signal: new AbortController().signal, onProgress: (p) => progress.push(p.fraction ?? -1) })) as {
        lines: number;
        machine: unknown;
      };
      clearInterval(sampler);
      assert.equal(result.lines, 201);
      assert.deepEqual(result.machine, { x: -101, y: -10, z: -1 });
      assert.equal(sim.overflows, 0, 'no byte was lost to a full receive buffer');
      assert.ok(maxInFlight >= 4, `lines were pipelined (peak ${maxInFlight} lines awaiting their ok)`);
      assert.equal(progress[0], 0);
      assert.equal(progress.at(-1), 1);
      assert.ok(progress.every((p, i) => i === 0 || p >= progress[i - 1]), 'progress only grows');
      const sent = lines.filter((l) => /^G1X/.test(l));
      assert.equal(sent.length, 200);
      assert.equal(sent[0], 'G1X-1.500Y-10', 'comments and spaces are removed');
      assert.ok(sim.executedLines.includes('G1X-101.000Y-10'));
    });

    it('streams a program from a file in the program folder, and refuses files outside it', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'workcell-gcode-'));
      writeFileSync(join(dir, 'square.nc'), 'G90 G1 F3000\nX-20\nY-20\nX-1\nY-1\n');
      const g = await homed({ programDir: dir });
      const r = (await run(g, 'program', { file: 'square.nc' })) as { lines: number; machine: unknown };
      assert.equal(r.lines, 5);
      assert.deepEqual(r.machine, { x: -1, y: -1, z: -1 });
      await assert.rejects(run(g, 'program', { file: '../etc/passwd' }), /Mill: program refused: (the program file "..\/etc\/passwd" is outside the program folder|cannot read the program file)/);
      await assert.rejects(run(g, 'program', { file: 'missing.nc' }), /cannot read the program file "missing.nc": no such file in the program folder; nothing was sent/);
      await g.close();
      opened.splice(opened.indexOf(g), 1);
      const noDir = await gantry({ name: 'Laser' });
      await assert.rejects(run(noDir, 'program', { file: 'square.nc' }), /Laser: program refused: program files are not enabled on this device/);
    });

    it('refuses program lines GRBL would act on as real-time commands, and $ commands', async () => {
      const g = await homed();
      const before = lines.length;
      await assert.rejects(run(g, 'program', { gcode: 'G1 X-5 F100\nG1 X-6 !' }), /Mill: program refused: program line 2 "G1 X-6 !": the character "!" is a GRBL real-time command/);
      await assert.rejects(run(g, 'program', { gcode: '$21=1' }), /line 1 "\$21=1": system commands/);
      assert.equal(lines.length, before);
    });
  });

  describe('soft limits, checked before a byte is sent', () => {
    it('refuses absolute, relative and machine-coordinate moves and jogs outside the limits, sending nothing', async () => {
      const g = await homed();
      await run(g, 'move', { x: -280, feed: 5000 });
      const before = lines.length;
      const realtimeBefore = sim.receivedRealtime.filter((r) => r.byte !== Realtime.StatusReport).length;
      await assert.rejects(run(g, 'move', { x: -300, feed: 1000 }), {
        code: 'limit',
        message: 'Mill: move refused: the X target (machine coordinates) -300 (number) is outside the limit -290 to 0 mm; nothing was sent',
      });
      await assert.rejects(run(g, 'move', { mode: 'relative', x: -15, feed: 1000 }), /the X target \(machine coordinates\) -295 \(number\) is outside the limit -290 to 0 mm/);
      await assert.rejects(run(g, 'move', { z: 5, coordinates: 'machine', rapid: true }), /the Z target \(machine coordinates\) 5 \(number\) is outside the limit -90 to 0 mm/);
      await assert.rejects(run(g, 'jog', { x: -11, feed: 500 }), /Mill: jog refused: the X target/);
      assert.equal(lines.length, before, 'the simulator received no line');
      assert.equal(sim.receivedRealtime.filter((r) => r.byte !== Realtime.StatusReport).length, realtimeBefore, 'nor any real-time command but status requests');
      assert.deepEqual(sim.machinePosition, { x: -280, y: -1, z: -1 });
    });

    it('checks every motion line of a program, through G91, G20 and G54 offsets, before sending the first', async () => {
      const g = await homed();
      const before = lines.length;
      const program = ['G90 G1 F3000', 'X-100', 'G91', 'X-100', 'X-100', 'G90', 'X-10'].join('\n');
      await assert.rejects(run(g, 'program', { gcode: program }), /Mill: program refused: the X target of line 5 "X-100" \(machine coordinates\) -300 \(number\) is outside the limit -290 to 0 mm; nothing was sent/);
      await assert.rejects(run(g, 'program', { gcode: 'G20 G90 G1 F100 Z-4' }), /the Z target of line 1 .* -101.6 \(number\) is outside the limit -90 to 0 mm/);
      await assert.rejects(run(g, 'program', { gcode: 'G10 L2 P2 X-200\nG55 G0 X-95' }), /the X target of line 2 "G55G0X-95" \(machine coordinates\) -295/);
      assert.equal(lines.length, before, 'the simulator received no line');
    });
    it('checks an arc over its whole extent, not only its end points: one that bulges past a limit is refused before the first line', async () => {
      const g = await homed();
      const before = lines.length;
      // Centre (-5, -20), radius 10: clockwise from the top it passes X +5, beyond the limit 0.
      await assert.rejects(run(g, 'program', { gcode: 'G90 G1 F3000 X-5 Y-10\nG2 X-5 Y-30 J-10' }), {
        code: 'limit',
        message: 'Mill: program refused: the X extent of the arc of line 2 "G2X-5Y-30J-10" (machine coordinates) 5 (number) is outside the limit -290 to 0 mm; nothing was sent',
      });
      // The longer arc (negative R) on a 20 mm chord: centre 3.2 mm to the left of it.
      // The longer arc (negative R) over a 20 mm chord: its centre 3.2 mm to the left of the chord.
      await assert.rejects(run(g, 'program', { gcode: 'G90 G1 F3000 X-5 Y-10\nG2 X-5 Y-30 R-10.5' }), /the X extent of the arc of line 2 "G2X-5Y-30R-10.5" \(machine coordinates\) 8\.702 \(number\)/);
      await assert.rejects(run(g, 'program', { gcode: 'G90 G1 F3000 X-5 Y-10 Z-1\nG19 G3 Y-30 Z-1 K-0 J-10' }), /the Z extent of the arc of line 2 "G19G3Y-30Z-1K-0J-10" \(machine coordinates\) 9 \(number\) is outside the limit -90 to 0 mm/);
      assert.equal(lines.length, before, 'the simulator received no line');
      // The other way round the arc stays inside: it passes the check and goes out (the
      // simulator does not model arcs and refuses it with error:20).
      await assert.rejects(run(g, 'program', { gcode: 'G90 G1 F3000 X-5 Y-10\nG3 X-5 Y-30 J-10' }), { name: 'GrblCommandError', message: /line 2 refused by GRBL: error:20/ });
      assert.ok(lines.includes('G3X-5Y-30J-10'), JSON.stringify(lines.slice(before)));
    });
  });

  describe('GRBL errors and alarms', () => {
    it('turns error:N into a sentence with GRBL\'s meaning and stops the program', async () => {
      const g = await homed();
      await assert.rejects(run(g, 'program', { gcode: 'G1 X-5 F1000\nG1 X-6 Q3\nG1 X-50' }), (err: GrblCommandError) => {
        assert.ok(err instanceof GrblCommandError);
        assert.equal(err.message, 'Mill: program line 2 refused by GRBL: error:20 — unsupported or invalid G-code command in the block (line "G1X-6Q3")');
        return true;
      });
      assert.ok(!sim.executedLines.includes('G1X-50'), 'the line after the error did not run');
      assert.equal(g.positionTrusted, true, 'stopped at rest: the position is kept');
      await run(g, 'move', { x: -20, feed: 2000 });
      assert.deepEqual(sim.machinePosition, { x: -20, y: -1, z: -1 });
    });

    it('turns an ALARM into a clear error and, in the alarm state, G-code is refused with error:9', async () => {
      // No driver limits: let GRBL's own soft limits (travel -300) catch the move.
      const g = await homed({ softLimits: {} });
      await assert.rejects(run(g, 'move', { x: -400, feed: 3000 }), (err: GrblAlarmError) => {
        assert.ok(err instanceof GrblAlarmError);
        assert.match(err.message, /^Mill: move failed: GRBL raised ALARM:2 — soft limit: the G-code motion target exceeds the machine travel; the machine position is retained/);
        return true;
      });
      assert.equal(g.status, 'fault');
      await until(() => sim.state === 'Alarm' && g.lastStatus?.state === 'Alarm', 'the reset after the critical alarm');
      assert.equal(g.positionTrusted, true, 'ALARM:2 keeps the position');
      await assert.rejects(run(g, 'move', { x: -10, feed: 3000 }), {
        message: 'Mill: move refused by GRBL: error:9 — G-code locked out during alarm or jog state (line "G21 G90 G1 X-10 F3000")',
      });
      await run(g, 'home');
      assert.equal(g.status, 'ready');
    });
  });

  describe('stopping', () => {
    it('an emergency stop while streaming a program halts motion mid-program: ALARM:3, position untrusted, moves refused until homed', async () => {
      const g = await homed();
      await run(g, 'spindle', { on: true, speed: 600 });
      const cell = new AbortContext({ name: 'cell' });
      cell.addDevice(g);
      const program = segments(40, -1, -5, 1200);
      const scope = await cell.checkpoint(undefined, 'test');
      const streaming = g.execute('program', { gcode: program }, { signal: scope.signal });
      streaming.catch(() => undefined);
      await until(() => sim.executedLines.filter((l) => l.startsWith('G1X')).length >= 5, 'five segments done');
      const report = await cell.estop('test button');
      await assert.rejects(streaming, { name: 'EStop' });
      assert.deepEqual(report.devices.map((d) => [d.device, d.stop, d.safe]), [['Mill', 'stopped', 'safe']]);
      assert.ok(sim.receivedRealtime.some((r) => r.byte === Realtime.FeedHold));
      assert.ok(sim.receivedRealtime.some((r) => r.byte === Realtime.Reset));
      assert.equal(sim.state, 'Alarm');
      assert.equal(sim.alarm, 3);
      const done = sim.executedLines.filter((l) => l.startsWith('G1X')).length;
      assert.ok(done < 40, `motion halted mid-program (${done} of 40 segments)`);
      const x = sim.machinePosition.x;
      assert.ok(x < -1 && x > -201, `the position is between start and end (${x})`);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(sim.machinePosition.x, x, 'nothing moves afterwards');
      assert.equal(g.positionTrusted, false);
      assert.deepEqual(sim.spindle, { on: false, cw: true, speed: 0 }, 'the reset switched the spindle off');
      assert.deepEqual(g.lastSafeCheck, { state: 'Alarm', spindleRpm: 0, spindle: 'off', flood: false, mist: false, sent: [] }, 'safe sent no G-code in alarm, and checked');
      await cell.reset('test');
      assert.equal(sim.state, 'Alarm', 'reset leaves the lock when unlocking is not allowed');
      assert.equal(g.health.detail, 'alarm (ALARM:3) — home with $H');
      const inCell = await cell.checkpoint(undefined, 'after reset');
      await assert.rejects(g.execute('move', { x: -10, feed: 1000 }, { signal: inCell.signal }), { code: 'position-untrusted' });
      await g.execute('home', {}, { signal: inCell.signal });
      await g.execute('move', { x: -10, feed: 3000 }, { signal: inCell.signal });
      assert.deepEqual(sim.machinePosition, { x: -10, y: -1, z: -1 });
    });

    it('a cell reset clears the alarm with $X when the device allows it (the position stays untrusted)', async () => {
      const g = await homed({ allowUnlock: true });
      const cell = new AbortContext({ name: 'cell' });
      cell.addDevice(g);
      const scope = await cell.checkpoint(undefined, 'test');
      const moving = g.execute('move', { x: -200, feed: 3000 }, { signal: scope.signal });
      moving.catch(() => undefined);
      await until(() => sim.state === 'Run', 'motion');
      await cell.estop('test');
      assert.equal(sim.alarm, 3);
      await cell.reset('test');
      assert.equal(sim.state, 'Idle');
      assert.equal(g.positionTrusted, false);
      assert.ok(lines.includes('$X'));
    });

    it('a cancelled move gets a controlled stop: feed hold, then a reset at rest, no alarm, position kept', async () => {
      const g = await homed();
      const ac = new AbortController();
      const moving = run(g, 'move', { x: -250, feed: 3000 }, ac.signal);
      await until(() => sim.machinePosition.x < -20, 'motion under way');
      ac.abort(new Cancelled('test'));
      await assert.rejects(moving, { name: 'Cancelled' });
      await until(() => sim.receivedRealtime.some((r) => r.byte === Realtime.Reset), 'the reset');
      await waitForStatus(g, 'ready');
      assert.equal(sim.state, 'Idle');
      assert.equal(sim.alarm, null);
      assert.equal(g.positionTrusted, true);
      const x = sim.machinePosition.x;
      assert.ok(x < -20 && x > -250, `stopped between (${x})`);
      const r = (await run(g, 'status')) as { machine: { x: number } };
      near(r.machine.x, x, 'the driver tracks where it stopped');
      await run(g, 'move', { x: -5, feed: 3000 });
    });

    it('a cancelled jog gets jog cancel: GRBL flushes the jog and keeps the position', async () => {
      const g = await homed();
      const ac = new AbortController();
      const jogging = run(g, 'jog', { x: -200, feed: 1500 }, ac.signal);
      await until(() => sim.state === 'Jog' && sim.machinePosition.x < -10, 'jogging');
      ac.abort(new Cancelled('test'));
      await assert.rejects(jogging, { name: 'Cancelled' });
      await until(() => sim.state === 'Idle', 'the jog to end');
      assert.ok(sim.receivedRealtime.some((r) => r.byte === Realtime.JogCancel));
      assert.ok(!sim.receivedRealtime.some((r) => r.byte === Realtime.Reset), 'no reset needed');
      assert.equal(g.positionTrusted, true);
      assert.ok(sim.machinePosition.x > -200);
    });

    it('hold and resume through the cell: feed hold, then cycle start once the hold is complete', async () => {
      const g = await homed();
      const cell = new AbortContext({ name: 'cell' });
      cell.addDevice(g);
      const scope = await cell.checkpoint(undefined, 'test');
      const streaming = g.execute('program', { gcode: segments(20, -1, -5, 1500) }, { signal: scope.signal });
      await until(() => sim.state === 'Run' && sim.machinePosition.x < -10, 'streaming');
      await cell.hold('test');
      await until(() => sim.state === 'Hold:0', 'the hold to complete');
      const x = sim.machinePosition.x;
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(sim.machinePosition.x, x, 'held still');
      await cell.resume('test');
      const result = (await streaming) as { machine: unknown };
      assert.deepEqual(result.machine, { x: -101, y: -10, z: -1 });
      const rt = sim.receivedRealtime.filter((r) => r.byte !== Realtime.StatusReport).map((r) => r.name);
      assert.deepEqual(rt, ['FeedHold', 'CycleStart']);
      assert.equal(g.positionTrusted, true);
    });
  });

  describe('link', () => {
    it('after the simulator drops the link: disconnected, requests fail clearly, then ready again with the position untrusted (the board reset)', async () => {
      const g = await homed();
      assert.equal(g.positionTrusted, true);
      const lost = waitForStatus(g, 'disconnected');
      sim.dropClients();
      await lost;
      await assert.rejects(run(g, 'status'), /Mill: status refused: the device is (disconnected|connecting)/);
      await waitForStatus(g, 'ready');
      assert.equal(g.positionTrusted, false, 'the reconnect reset the board (banner)');
      await assert.rejects(run(g, 'move', { x: -5, feed: 1000 }), { code: 'position-untrusted' });
      await run(g, 'home');
      await run(g, 'move', { x: -5, feed: 3000 });
      assert.deepEqual(sim.machinePosition, { x: -5, y: -1, z: -1 });
    });

    it('a link loss during a move fails the step with a sentence naming the device', async () => {
      const g = await homed();
      const moving = run(g, 'move', { x: -250, feed: 600 });
      await until(() => sim.state === 'Run', 'motion');
      sim.dropClients();
      await assert.rejects(moving, /^WorkcellError: Mill: move failed: tcp:\/\/127\.0\.0\.1:\d+: connection lost/);
    });

    it('ignores garbled and unexpected lines (warnings), keeps the tracked position, and keeps working', async () => {
      const relay = await startRelay(address);
      cleanups.push(relay.close);
      const g = await readyGantry({ name: 'Mill', address: relay.address });
      opened.push(g);
      await run(g, 'home');
      const warnings: string[] = [];
      g.on('warning', (w: string) => warnings.push(w));
      relay.inject('<Idle|MPos:-99.000,-99.0\r\n');
      relay.inject('<Run|MPos:1,2>\r\n');
      relay.inject(Buffer.from([0xff, 0xfe, 0x41, 0x0d, 0x0a]));
      relay.inject('hello\r\n');
      await until(() => warnings.length >= 4, 'four warnings');
      assert.match(warnings[0], /Mill: ignored a damaged status report "<Idle\|MPos:-99.000,-99.0"/);
      assert.match(warnings[3], /Mill: ignored a line GRBL does not send "hello"/);
      const s = (await run(g, 'status')) as { machine: unknown };
      assert.deepEqual(s.machine, { x: -1, y: -1, z: -1 });
      await run(g, 'move', { x: -30, feed: 3000 });
      assert.deepEqual(sim.machinePosition, { x: -30, y: -1, z: -1 });
    });
  });
});
