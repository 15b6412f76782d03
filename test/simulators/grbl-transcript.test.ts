/**
 * The simulator's transcript of whole sessions, line by line and in order, held against the
 * GRBL 1.1h firmware's. The expected transcripts are our statement of what the firmware prints,
 * read from its report.c, protocol.c, system.c, limits.c and motion_control.c (message texts and
 * their order are facts of the protocol) and checked against a host build of the firmware
 * (grbl-sim behind a socat pty): the banner, `$$`, `$H`, a move, feed hold and resume, a soft
 * reset in motion and a soft-limit alarm. Status reports are compared by their state, since
 * positions depend on when the `?` lands.
 */
import * as assert from 'node:assert/strict';
import { GrblSimulator, GrblSimulatorOptions } from '../../lib/simulators/grbl';
import { Client, isResponse } from '../support/grbl-client';

const TRAVEL = { x: { min: -300, max: 0 }, y: { min: -300, max: 0 }, z: { min: -100, max: 0 } };
const BANNER = "Grbl 1.1h ['$' for help]";
const LOCKED = "[MSG:'$H'|'$X' to unlock]";
/** The settings `$$` lists, in the firmware's order (report_grbl_settings()). */
const SETTING_NUMBERS = [0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 20, 21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 100, 101, 102, 110, 111, 112, 120, 121, 122, 130, 131, 132];

describe('GRBL simulator transcripts against the firmware', function () {
  let sim: GrblSimulator;
  let client: Client;

  /** A stock machine: homing and soft limits on, `$10=1` as the firmware's default. */
  async function start(options: GrblSimulatorOptions = {}): Promise<void> {
    sim = new GrblSimulator({ timeScale: 10, softLimits: TRAVEL, statusReportMask: 1, ...options });
    const { port } = await sim.listen();
    client = await Client.connect(port);
  }

  /** What the client received, status reports shortened to their state: `<Hold:1>`. */
  const transcript = (): string[] => client.lines.map((l) => (l.startsWith('<') ? `<${l.slice(1).split('|')[0]}>` : l));
  const stateBecomes = (state: string): Promise<void> =>
    new Promise((resolve) => {
      const on = (now: string): void => {
        if (now !== state) return;
        sim.off('state', on);
        resolve();
      };
      sim.on('state', on);
    });

  /** Resolves once the machine has passed `x` (polled: a condition, not a time bound). */
  const cruising = (x: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => (sim.machinePosition.x < x ? resolve() : void setTimeout(check, 2));
      check();
    });

  afterEach(async () => {
    client?.close();
    await sim?.close();
  });

  it('power-up, $$, $H with a ? during the cycle, a move', async () => {
    await start();
    await client.next((l) => l === LOCKED);
    assert.equal(await client.command('$$'), 'ok');
    client.send('$H\n');
    await stateBecomes('Home');
    client.send('?');
    assert.equal(await client.next(isResponse), 'ok');
    const idle = stateBecomes('Idle');
    assert.equal(await client.command('G1 X-10 F600'), 'ok');
    await idle;
    client.send('?');
    await client.next(/^<Idle/);
    const settings = SETTING_NUMBERS.map((n) => (l: string) => l.startsWith(`$${n}=`));
    const lines = transcript();
    assert.deepEqual(lines.slice(0, 3), ['', BANNER, LOCKED]);
    assert.equal(lines.length, 3 + SETTING_NUMBERS.length + 5);
    settings.forEach((isSetting, i) => assert.ok(isSetting(lines[3 + i]!), `line ${3 + i} is $${SETTING_NUMBERS[i]}: ${lines[3 + i]}`));
    // `?` during homing is serviced once the cycle ends, still in Home, before $H's ok.
    assert.deepEqual(lines.slice(3 + SETTING_NUMBERS.length), ['ok', '<Home>', 'ok', 'ok', '<Idle>']);
  });

  it('feed hold and resume: Hold:1 while decelerating, Hold:0 at rest, Run after ~, Idle at the end; nothing else printed', async () => {
    await start({ startLocked: false, acceleration: 10 });
    await client.next((l) => l === BANNER);
    assert.equal(await client.command('G1 X-50 F600'), 'ok');
    await cruising(-6); // past the 5 mm it takes to reach 10 mm/s at 10 mm/s²
    const held = stateBecomes('Hold:0');
    client.send('!?'); // the hold takes 1 s of machine time from 10 mm/s at 10 mm/s²
    await client.next(/^</);
    await held;
    client.send('?');
    await client.next(/^</);
    const done = stateBecomes('Idle');
    client.send('~?');
    await client.next(/^</);
    await done;
    client.send('?');
    await client.next(/^<Idle/);
    assert.deepEqual(transcript(), ['', BANNER, 'ok', '<Hold:1>', '<Hold:0>', '<Run>', '<Idle>']);
  });

  it('soft reset in motion: ALARM:3, after the alarm wait the ok of the line that waited for the planner, the banner, the lock message; a ? in the wait is not answered', async () => {
    await start({ startLocked: false });
    await client.next((l) => l === BANNER);
    // 16 lines: 15 fill the planner, the 16th waits inside the parser for a block.
    const lines = Array.from({ length: 16 }, (_, i) => `G1 X-${i + 1} F6`); // 10 s each: 1 s at 10×
    client.send(lines.map((l) => `${l}\n`).join(''));
    for (let i = 0; i < 15; i++) assert.equal(await client.next(isResponse), 'ok');
    sim.once('alarm', () => client.send('?'));
    client.send('\x18');
    await client.next((l) => l === LOCKED);
    assert.deepEqual(transcript().slice(2), [...Array(15).fill('ok'), 'ALARM:3', 'ok', '', BANNER, LOCKED]);
  });

  it('soft-limit alarm: ALARM:2, a reset in the wait thrown away, [MSG:Reset to continue], no ?, then a reset: the late ok, the banner, the lock message', async () => {
    await start();
    await client.next((l) => l === LOCKED);
    assert.equal(await client.command('$X'), 'ok');
    sim.once('alarm', () => client.send('\x18?'));
    client.send('G0 X10\n');
    await client.next(/^\[MSG:Reset to continue\]$/);
    client.send('?');
    client.send('\x18');
    await client.next((l) => l === LOCKED && client.lines.includes('ALARM:2'));
    assert.deepEqual(transcript(), [
      '', BANNER, LOCKED,
      '[MSG:Caution: Unlocked]', 'ok',
      'ALARM:2', '[MSG:Reset to continue]',
      'ok', '', BANNER, LOCKED,
    ]);
  });
});
