/**
 * Behaviour of the GRBL 1.1h simulator as a client sees it over a real TCP socket.
 */
import * as assert from 'node:assert/strict';
import { GrblSimulator, GrblSimulatorOptions } from '../../lib/simulators/grbl';
import { firstOf, timePassed, until } from '../support/event-order';
import { Client, isResponse, mpos, stateOf, waitForState } from '../support/grbl-client';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const TRAVEL = { x: { min: -300, max: 0 }, y: { min: -300, max: 0 }, z: { min: -100, max: 0 } };

describe('GRBL 1.1h simulator', function () {
  let sim: GrblSimulator;
  let client: Client;

  async function start(options: GrblSimulatorOptions = {}): Promise<void> {
    sim = new GrblSimulator({ timeScale: 10, alarmDelayMs: 20, ...options });
    const { port } = await sim.listen();
    client = await Client.connect(port);
    await client.next(/^Grbl 1\.1h/);
  }

  afterEach(async () => {
    client?.close();
    await sim?.close();
  });

  describe('connection and line protocol', () => {
    it('greets a new connection with the banner and, when homing is enabled, the unlock message', async () => {
      sim = new GrblSimulator({ timeScale: 10 });
      const { port } = await sim.listen();
      client = await Client.connect(port);
      await client.next(/^\[MSG:'\$H'\|'\$X' to unlock\]$/);
      assert.deepEqual(client.lines.slice(0, 3), ['', "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]);
      assert.equal(sim.state, 'Alarm');
      assert.equal(sim.positionTrusted, false);
    });

    it('tells each attach and the bytes each client sends, as they arrive and in order, before the power cycle acts', async () => {
      sim = new GrblSimulator({ timeScale: 10 });
      const events: string[] = [];
      sim.on('attach', () => events.push(`attach (${sim.state})`));
      sim.on('reset', () => events.push('reset'));
      sim.on('received', (bytes: Buffer) => events.push(`received ${JSON.stringify(bytes.toString('latin1'))}`));
      const { port } = await sim.listen();
      client = await Client.connect(port);
      await client.next(/^Grbl 1\.1h/);
      client.send('$G\n');
      await client.next(isResponse);
      client.close();
      client = await Client.connect(port);
      await client.next(/^Grbl 1\.1h/);
      client.send(Buffer.from([0x21, 0x18]));
      await client.next(/^Grbl 1\.1h/);
      assert.deepEqual(events, ['attach (Alarm)', 'reset', 'received "$G\\n"', 'attach (Alarm)', 'reset', 'received "!\\u0018"', 'reset']);
    });

    it('answers every line with exactly one ok or error, an empty line with ok', async () => {
      await start({ startLocked: false });
      client.send('G21\n\nG90\nG5\n$G\n');
      const answers: string[] = [];
      for (let i = 0; i < 5; i++) answers.push(await client.next(isResponse));
      assert.deepEqual(answers, ['ok', 'ok', 'ok', 'error:20', 'ok']);
      await sleep(50);
      assert.equal(client.lines.filter(isResponse).length, 5, 'no extra responses');
      assert.ok(client.lines.includes('[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]'));
    });

    it('treats CR and LF each as a line end, so CRLF earns two oks as on the real firmware', async () => {
      await start({ startLocked: false });
      client.send('G21\r\n');
      await client.next(isResponse);
      await client.next(isResponse);
      await sleep(30);
      assert.equal(client.lines.filter(isResponse).length, 2);
    });

    it('reports the firmware error codes for malformed or unsupported lines', async () => {
      await start({ startLocked: false, softLimits: TRAVEL });
      const cases: Array<[string, string]> = [
        ['X', 'error:2'], // letter without a value
        ['1G0', 'error:1'], // value without a letter
        ['G1 X-1', 'error:22'], // no feed rate yet
        ['M3 M5', 'error:21'], // two spindle commands
        ['G0 X-1 X-2', 'error:25'], // repeated word
        ['G4', 'error:28'], // dwell without P
        ['F-5', 'error:4'],
        ['G0 P2', 'error:36'],
        ['$1000=1', 'error:3'],
        ['$J=X-10', 'error:22'], // a jog needs F
        ['$J=M3 X-1 F100', 'error:16'],
        ['$J=X-400 F100', 'error:15'], // beyond travel
        ['G2 X-1 Y-1 R5 F100', 'error:20'], // arcs are not modelled
        ['G0 X-1', 'ok'],
      ];
      for (const [line, expected] of cases) {
        assert.equal(await client.command(line), expected, `answer to ${line}`);
      }
    });

    it('refuses idle-only $ commands with error:8 while running and $H with error:5 when homing is off', async () => {
      await start({ homingEnabled: false });
      assert.equal(await client.command('$H'), 'error:5');
      assert.equal(await client.command('G1 X-20 F600'), 'ok');
      assert.equal(await client.command('$#'), 'error:8');
      assert.equal(await client.command('$$'), 'error:8');
      assert.equal(await client.command('$G'), 'ok', '$G is always allowed');
    });

    it('prints settings, offsets and build info', async () => {
      await start({ startLocked: false, softLimits: TRAVEL, maxRate: { x: 3000 } });
      assert.equal(await client.command('$$'), 'ok');
      for (const s of ['$0=10', '$20=1', '$22=1', '$110=3000.000', '$130=300.000', '$132=100.000']) {
        assert.ok(client.lines.includes(s), `${s} listed`);
      }
      assert.equal(await client.command('$#'), 'ok');
      assert.ok(client.lines.includes('[G54:0.000,0.000,0.000]'));
      assert.ok(client.lines.includes('[TLO:0.000]'));
      assert.equal(await client.command('$I'), 'ok');
      assert.ok(client.lines.some((l) => /^\[VER:1\.1h\.\d{8}:/.test(l)));
      assert.ok(client.lines.includes('[OPT:V,15,128]'), 'the default build: variable spindle, no mist (M7)');
    });
  });

  describe('motion and streaming', () => {
    it('takes distance/feed time, reports intermediate positions, and goes Run then Idle', async () => {
      await start({ startLocked: false });
      const events: string[] = [];
      sim.on('state', (state: string) => events.push(state));
      sim.on('motion-start', () => events.push('motion-start'));
      sim.on('motion-end', () => events.push('motion-end'));
      const t0 = Date.now();
      // 1 s machine time, 100 ms at 10×: it ends before a timer for the unscaled second fires.
      const unscaled = timePassed(1000);
      const ended = new Promise<number>((resolve) => sim.once('motion-end', () => resolve(Date.now())));
      assert.equal(await client.command('G1 X-10 F600'), 'ok');
      const states: string[] = [];
      const xs: number[] = [];
      for (;;) {
        const report = await client.status();
        states.push(stateOf(report));
        xs.push(mpos(report)[0]!);
        if (stateOf(report) === 'Idle' && states.includes('Run')) break;
        await sleep(15);
      }
      assert.equal(await firstOf({ 'motion-end': ended, 'one unscaled second': unscaled }), 'motion-end');
      assert.ok((await ended) - t0 >= 90, `the move took ${(await ended) - t0} ms, not less than its 100 ms`);
      assert.ok(xs.some((x) => x < -0.5 && x > -9.5), `saw an intermediate position in ${xs.join(' ')}`);
      assert.equal(xs.at(-1), -10);
      assert.deepEqual(sim.executedLines, ['G1 X-10 F600']);
      assert.deepEqual(events, ['Run', 'motion-start', 'motion-end', 'Idle']);
    });

    it('answers ok when the move is planned, long before the move ends', async () => {
      await start({ startLocked: false });
      const ends: number[] = [];
      const heard: string[] = [];
      sim.on('motion-end', () => {
        ends.push(Date.now());
        heard.push('motion-end');
      });
      const t0 = Date.now();
      assert.equal(await client.command('G1 X-20 F600'), 'ok'); // 2 s machine time, 200 ms real
      heard.push('ok');
      assert.equal(stateOf(await client.status()), 'Run');
      await waitForState(client, 'Idle');
      assert.deepEqual(heard, ['ok', 'motion-end'], 'the ok came before the move ended');
      assert.ok(ends[0]! - t0 >= 190);
    });

    it('shows free planner blocks and RX bytes in Bf', async () => {
      await start({ startLocked: false });
      assert.match(await client.status(), /\|Bf:15,128\|/);
      client.send('G1 X-5 F300\nG1 X-10\nG1 X-15\n');
      for (let i = 0; i < 3; i++) await client.next(isResponse);
      const report = await client.status();
      const [blocks, rx] = /Bf:(\d+),(\d+)/.exec(report)!.slice(1).map(Number);
      assert.equal(stateOf(report), 'Run');
      assert.ok(blocks! <= 14 && blocks! >= 12, `Bf blocks ${blocks}`);
      assert.equal(rx, 128);
    });

    it('detects an RX overflow when a client sends more than 128 unacknowledged bytes', async () => {
      await start({ startLocked: false });
      const lines = Array.from({ length: 40 }, (_, i) => `G1 X-${(i + 1) * 0.5} F60`); // 50 ms each
      client.send(lines.map((l) => `${l}\n`).join(''));
      await until(() => sim.overflows > 0, 'an RX overflow');
      assert.ok(sim.overflows > 0, 'bytes were dropped');
      sim.softReset();
      await client.next(/^Grbl/);
      assert.ok(client.lines.filter(isResponse).length < lines.length, 'some lines never got an answer');
    });

    it('accepts the same stream without loss when the client counts characters', async () => {
      await start({ startLocked: false });
      const lines = Array.from({ length: 40 }, (_, i) => `G1 X-${(i + 1) * 0.5} F6000`);
      const inFlight: number[] = [];
      let answered = 0;
      for (const line of lines) {
        while (inFlight.reduce((a, b) => a + b, 0) + line.length + 1 > 128) {
          await client.next(isResponse);
          inFlight.shift();
          answered++;
        }
        client.send(`${line}\n`);
        inFlight.push(line.length + 1);
      }
      while (answered < lines.length) {
        assert.equal(await client.next(isResponse), 'ok');
        answered++;
      }
      assert.equal(sim.overflows, 0);
      await waitForState(client, 'Idle');
      assert.deepEqual(mpos(await client.status()), [-20, 0, 0]);
      assert.equal(sim.executedLines.length, 40);
    });

    it('streams short moves faster with character counting than with send-and-wait', async () => {
      await start({ startLocked: false, timeScale: 50 });
      const lines = Array.from({ length: 40 }, (_, i) => `G1 X-${((i % 2) + 1) * 0.01} F1000`);
      let t0 = Date.now();
      for (const line of lines) assert.equal(await client.command(line), 'ok');
      const sendAndWait = Date.now() - t0;
      await waitForState(client, 'Idle');
      t0 = Date.now();
      const inFlight: number[] = [];
      let answered = 0;
      for (const line of lines) {
        while (inFlight.reduce((a, b) => a + b, 0) + line.length + 1 > 128) {
          await client.next(isResponse);
          inFlight.shift();
          answered++;
        }
        client.send(`${line}\n`);
        inFlight.push(line.length + 1);
      }
      for (; answered < lines.length; answered++) await client.next(isResponse);
      const charCounting = Date.now() - t0;
      assert.ok(charCounting < sendAndWait, `character counting ${charCounting} ms vs send-and-wait ${sendAndWait} ms`);
      assert.equal(sim.overflows, 0);
    });

    it('stops answering when the planner is full and resumes as blocks complete', async () => {
      await start({ startLocked: false });
      const lines = Array.from({ length: 18 }, (_, i) => `G1 X-${i + 1} F60`); // 100 ms each at 10×
      client.send(lines.map((l) => `${l}\n`).join(''));
      // The planner fills at once (15 blocks); the first block then runs for 100 ms.
      await until(() => client.lines.filter(isResponse).length >= 15, 'the planner to fill');
      const early = client.lines.filter(isResponse).length;
      assert.ok(early >= 15 && early <= 16, `${early} oks while the first block runs`);
      assert.ok(sim.rxBufferUsed > 0, 'the remaining lines wait in the RX buffer');
      await until(() => client.lines.filter(isResponse).length >= 18, 'an ok for every line');
      assert.equal(client.lines.filter(isResponse).length, 18);
    });
  });

  describe('real-time commands', () => {
    it('feed hold decelerates through Hold:1 to Hold:0, ignores ~ until Hold:0, then resumes', async () => {
      await start({ startLocked: false, timeScale: 5, acceleration: 10 });
      assert.equal(await client.command('G1 X-50 F600'), 'ok'); // 50 mm at 10 mm/s: 1 s real
      await until(() => sim.state === 'Run' && sim.machinePosition.x < -1, 'the move under way'); // about 100 ms in
      client.send('!');
      const holding = await client.status();
      assert.equal(stateOf(holding), 'Hold:1');
      client.send('~'); // must be ignored while decelerating
      await sleep(20);
      assert.equal(stateOf(await client.status()), 'Hold:1');
      const held = await waitForState(client, 'Hold:0');
      const x = mpos(held)[0]!;
      await sleep(60);
      assert.equal(mpos(await client.status())[0], x, 'no motion while held');
      assert.equal(sim.receivedRealtime.filter((r) => r.name === 'CycleStart').length, 1);
      client.send('~');
      assert.equal(stateOf(await client.status()), 'Run');
      const done = await waitForState(client, 'Idle');
      assert.equal(mpos(done)[0], -50);
    });

    it('a soft reset during motion raises ALARM:3 and locks G-code until unlocked', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('G1 X-30 F600'), 'ok');
      await until(() => sim.state === 'Run', 'the move under way');
      client.send('\x18');
      await client.next(/^ALARM:3$/);
      const after = client.lines.slice(client.lines.indexOf('ALARM:3'));
      await client.next(/^\[MSG:'\$H'\|'\$X' to unlock\]$/);
      const tail = client.lines.slice(client.lines.indexOf('ALARM:3'));
      assert.deepEqual(tail.slice(0, 4), ['ALARM:3', '', "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]);
      assert.ok(after.length >= 1);
      assert.equal(sim.alarm, 3);
      assert.equal(sim.positionTrusted, false);
      const x = sim.machinePosition.x;
      assert.ok(x < 0 && x > -30, `stopped part-way at ${x}`);
      assert.equal(await client.command('G0 X0'), 'error:9');
      assert.equal(stateOf(await client.status()), 'Alarm');
      assert.equal(await client.command('$X'), 'ok');
      assert.ok(client.lines.includes('[MSG:Caution: Unlocked]'));
      assert.equal(await client.command('G0 X0'), 'ok');
    });

    it('a soft reset while idle prints only the banner and keeps the machine unlocked', async () => {
      await start({ startLocked: false });
      client.skip();
      client.send('\x18');
      await client.next(/^Grbl/);
      await sleep(30);
      assert.ok(!client.lines.some((l) => l.startsWith('ALARM') || l.startsWith('[MSG')));
      assert.equal(stateOf(await client.status()), 'Idle');
    });

    it('jog cancel stops a jog part-way, flushes it and returns to Idle', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('$J=G91 X-20 F600'), 'ok'); // 200 ms real
      assert.equal(stateOf(await client.status()), 'Jog');
      assert.equal(await client.command('G0 X0'), 'error:9', 'G-code is locked out while jogging');
      await until(() => sim.machinePosition.x < 0, 'the jog under way');
      client.send(Buffer.from([0x85]));
      const idle = await waitForState(client, 'Idle');
      const x = mpos(idle)[0]!;
      assert.ok(x < 0 && x > -20, `cancelled at ${x}`);
      await sleep(250);
      assert.equal(mpos(await client.status())[0], x, 'the rest of the jog was flushed');
      assert.deepEqual(sim.parserState.modal.incremental, false, 'a jog leaves the parser modes alone');
    });

    it('feed hold during a jog cancels the jog instead of holding', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('$J=G91 X-20 F600'), 'ok');
      await until(() => sim.machinePosition.x < 0, 'the jog under way');
      client.send('!');
      await waitForState(client, 'Idle');
      assert.ok(sim.machinePosition.x > -20);
    });

    it('shows feed override changes in the Ov field and speeds up the move', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('G1 X-20 F600'), 'ok');
      client.send(Buffer.from([0x91, 0x91]));
      let report = '';
      for (let i = 0; i < 3 && !report.includes('Ov:'); i++) report = await client.status();
      assert.match(report, /\|Ov:120,100,100/);
      assert.match(report, /\|FS:720,0/);
    });
  });

  describe('modal commands and buffer syncs', () => {
    it('holds the ok of a spindle change until queued motion has finished (buffer sync)', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('G1 X-10 F600'), 'ok'); // 100 ms
      const t0 = Date.now();
      assert.equal(await client.command('M3 S800'), 'ok');
      assert.ok(Date.now() - t0 >= 60, 'M3 waited for the move');
      assert.deepEqual(sim.spindle, { on: true, cw: true, speed: 800 });
      assert.equal(await client.command('M8'), 'ok');
      assert.deepEqual(sim.coolant, { flood: true, mist: false });
      const report = await client.status();
      assert.match(report, /\|FS:0,800/);
    });

    it('dwells for G4 P seconds (scaled) before answering', async () => {
      await start({ startLocked: false });
      const t0 = Date.now();
      // 1 s machine time, 100 ms real: answered before a timer for the unscaled second fires.
      const unscaled = timePassed(1000);
      const answer = client.command('G4 P1');
      assert.equal(await firstOf({ answer, 'one unscaled second': unscaled }), 'answer');
      assert.equal(await answer, 'ok');
      assert.ok(Date.now() - t0 >= 90, `the dwell took ${Date.now() - t0} ms, not less than its 100 ms`);
    });

    it('applies G92 and G10 L20 work offsets and reports them in WCO and $#', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('G0 X-10 Y-5'), 'ok');
      assert.equal(await client.command('G92 X0 Y0'), 'ok');
      assert.deepEqual(sim.workOffset, { x: -10, y: -5, z: 0 });
      assert.equal(await client.command('G92.1'), 'ok');
      assert.equal(await client.command('G10 L20 P1 X1'), 'ok');
      assert.deepEqual(sim.workOffset, { x: -11, y: 0, z: 0 });
      assert.equal(await client.command('$#'), 'ok');
      assert.ok(client.lines.includes('[G54:-11.000,0.000,0.000]'));
    });

    it('check mode parses G-code without moving and leaves through a reset', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('$C'), 'ok');
      assert.ok(client.lines.includes('[MSG:Enabled]'));
      assert.equal(stateOf(await client.status()), 'Check');
      assert.equal(await client.command('G1 X-50 F100'), 'ok');
      assert.equal(await client.command('G1 X-1'), 'ok');
      assert.deepEqual(mpos(await client.status()), [0, 0, 0]);
      assert.equal(await client.command('$C'), 'ok');
      await client.next(/^Grbl/);
      assert.equal(stateOf(await client.status()), 'Idle');
    });

    it('ends a program on M2 with [MSG:Pgm End] and the spindle off', async () => {
      await start({ startLocked: false });
      assert.equal(await client.command('M3 S500'), 'ok');
      assert.equal(await client.command('M2'), 'ok');
      assert.ok(client.lines.includes('[MSG:Pgm End]'));
      assert.equal(sim.spindle.on, false);
    });

    it('gives a line that was waiting for a planner block its ok after a reset, before the banner', async () => {
      await start({ startLocked: false });
      const lines = Array.from({ length: 17 }, (_, i) => `G1 X-${i + 1} F60`);
      client.send(lines.map((l) => `${l}\n`).join(''));
      await until(() => sim.rxBufferUsed > 0, 'a line waiting for a planner block');
      client.skip();
      client.send('\x18');
      await client.next(/^\[MSG:'\$H'/);
      const since = client.lines.slice(client.lines.indexOf('ALARM:3'));
      assert.deepEqual(since.slice(0, 3), ['ALARM:3', 'ok', '']);
      assert.equal(sim.rxBufferUsed, 0, 'the RX buffer was flushed');
      assert.match(await client.status(), /\|Bf:15,128\|/);
    });
  });

  describe('safety door', () => {
    it('stops through Door:2 to Door:0, cuts the spindle, and resumes with ~ via Door:3', async () => {
      await start({ startLocked: false, timeScale: 5, acceleration: 10 });
      assert.equal(await client.command('M3 S500'), 'ok');
      assert.equal(await client.command('G1 X-30 F600'), 'ok');
      // Up to speed (about 50 ms in), so that it has to decelerate (Door:2).
      await until(() => sim.state === 'Run' && sim.machinePosition.x < -0.3, 'the move up to speed');
      client.send(Buffer.from([0x84]));
      await client.next(/^\[MSG:Check Door\]$/);
      assert.equal(stateOf(await client.status()), 'Door:2');
      await waitForState(client, 'Door:0');
      assert.equal(sim.spindle.on, false);
      client.send('~');
      assert.equal(stateOf(await client.status()), 'Door:3');
      await waitForState(client, 'Run');
      assert.equal(sim.spindle.on, true);
    });
  });

  describe('homing and limits', () => {
    it('homes with $H: Home state (a ? answered <Home|…> at the end), takes time, ends at the pull-off with the position trusted', async () => {
      await start({ timeScale: 20 });
      client.send('$H\n');
      await until(() => sim.state === 'Home', 'homing under way');
      assert.equal(sim.state, 'Home');
      client.send('?'); // answered once every axis is homed, still in Home, before the ok
      const t0 = Date.now();
      const report = await client.next(/^</);
      assert.equal(await client.next(isResponse), 'ok');
      assert.ok(Date.now() - t0 > 100, 'homing took time');
      assert.match(report, /^<Home\|MPos:-1\.000,-1\.000,-1\.000\|/);
      assert.equal(sim.homed, true);
      assert.equal(sim.positionTrusted, true);
      assert.deepEqual(sim.machinePosition, { x: -1, y: -1, z: -1 });
      assert.equal(stateOf(await client.status()), 'Idle');
      assert.equal(await client.command('G0 X-5'), 'ok', 'homing unlocks G-code');
    });

    it('rejects a jog beyond the soft limits with error:15 and does not move', async () => {
      await start({ startLocked: false, softLimits: TRAVEL });
      assert.equal(await client.command('$J=G91 X5 F500'), 'error:15');
      await sleep(30);
      assert.deepEqual(mpos(await client.status()), [0, 0, 0]);
      assert.equal(stateOf(await client.status()), 'Idle');
    });

    it('a move beyond the soft limits raises ALARM:2 and blocks until a soft reset', async () => {
      await start({ startLocked: false, softLimits: TRAVEL });
      client.send('G0 X10\n');
      await client.next(/^ALARM:2$/);
      await client.next(/^\[MSG:Reset to continue\]$/);
      client.send('?G0 X-1\n');
      await sleep(50);
      assert.ok(!client.lines.some((l) => l.startsWith('<')), 'no status report during a critical alarm');
      client.send('\x18');
      await client.next(/^\[MSG:'\$H'\|'\$X' to unlock\]$/);
      assert.equal(await client.command('G0 X-1'), 'error:9');
      assert.equal(sim.alarm, 2, 'still locked because of the soft-limit alarm');
      assert.equal(stateOf(await client.status()), 'Alarm');
    });

    it('throws away a reset sent during the wait after ALARM:2, answers no ? until a reset after [MSG:Reset to continue]', async () => {
      await start({ startLocked: false, softLimits: TRAVEL, alarmDelayMs: 500 });
      // The reset goes out as soon as the alarm is raised, well inside the 500 ms wait.
      sim.once('alarm', () => client.send('\x18?'));
      client.send('G0 X10\n');
      await client.next(/^\[MSG:Reset to continue\]$/);
      client.send('?');
      client.send('\x18');
      await client.next(/^\[MSG:'\$H'\|'\$X' to unlock\]$/);
      const since = client.lines.slice(client.lines.indexOf('ALARM:2'));
      // Had the first reset been taken, the banner would follow ALARM:2 and no message would come.
      assert.deepEqual(since, ['ALARM:2', '[MSG:Reset to continue]', 'ok', '', "Grbl 1.1h ['$' for help]", "[MSG:'$H'|'$X' to unlock]"]);
      assert.deepEqual(sim.receivedRealtime.map((r) => r.name).filter((n) => n === 'Reset'), ['Reset', 'Reset']);
      assert.equal(sim.alarm, 2);
    });

    it('a hard limit in motion stops at once with ALARM:1, loses the position, and waits for a reset', async () => {
      await start({ startLocked: false, softLimits: TRAVEL });
      assert.equal(await client.command('G1 X-30 F600'), 'ok');
      await until(() => sim.state === 'Run', 'the move under way');
      sim.triggerHardLimit();
      const x = sim.machinePosition.x;
      await client.next(/^\[MSG:Reset to continue\]$/);
      assert.deepEqual(client.lines.slice(client.lines.indexOf('ALARM:1')), ['ALARM:1', '[MSG:Reset to continue]']);
      assert.equal(sim.machinePosition.x, x, 'no deceleration: the steppers were killed');
      assert.equal(sim.positionTrusted, false);
      client.send('\x18');
      await client.next(/^\[MSG:'\$H'\|'\$X' to unlock\]$/);
      assert.equal(sim.alarm, 1);
    });
  });
});
