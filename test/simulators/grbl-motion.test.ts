/**
 * The GRBL simulator's motion model: acceleration at the $120–$122 rates, junction speeds from
 * $11, the planner's look-ahead, and feed holds that stop v²/2a past the hold point. The pure
 * planner and profile functions are checked against the formulas; the simulator against the
 * same formulas, read at the instants its events mark (no wall-clock bounds).
 */
import * as assert from 'node:assert/strict';
import { GrblSimulator, GrblSimulatorOptions, MotionEvent, Realtime } from '../../lib/simulators/grbl';
import { distanceAt, runSegment, speedAt, stopSegment } from '../../lib/simulators/grbl/motion';
import { PlannerBlock, PlannerLimits, junctionSpeedSqr, makeBlock, queueBlock, replan } from '../../lib/simulators/grbl/planner';
import { Client, isResponse, waitForState } from '../support/grbl-client';

const close = (actual: number, expected: number, tolerance: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual}, expected ${expected} ± ${tolerance}`);

/** 200 mm/s² on every axis, in the planner's mm/min². */
const LIMITS: PlannerLimits = { maxRate: [5000, 5000, 1000], acceleration: [720_000, 720_000, 720_000], junctionDeviation: 0.01 };
const NO_OVERRIDES = { feed: 100, rapid: 100 };

describe('GRBL simulator motion model', function () {
  describe('the planner', () => {
    it('limits a diagonal move\'s acceleration and rapid rate by the tightest axis', () => {
      const limits: PlannerLimits = { ...LIMITS, acceleration: [720_000, 720_000, 36_000] };
      const block = makeBlock([0, 0, 0], [0, 3, -4], 'rapid', 0, limits)!;
      // Z carries 4/5 of the move: 1000 / 0.8 = 1250 mm/min, 36 000 / 0.8 = 45 000 mm/min².
      close(block.rapidRate, 1250, 1e-9, 'rapid rate');
      close(block.acceleration, 45_000, 1e-9, 'acceleration');
      assert.equal(makeBlock([1, 1, 1], [1, 1, 1], 'feed', 100, limits), null, 'a zero-length move is no block');
    });

    it('takes a straight continuation at full speed, a reversal from rest, and a corner at the junction-deviation speed', () => {
      assert.ok(junctionSpeedSqr([1, 0, 0], [1, 0, 0], LIMITS) > 1e30);
      assert.equal(junctionSpeedSqr([1, 0, 0], [-1, 0, 0], LIMITS), 0);
      // 90°: sin(θ/2) = √½; the velocity turns along (−1, 1)/√2, so 720 000·√2 mm/min² applies.
      const s = Math.SQRT1_2;
      close(junctionSpeedSqr([1, 0, 0], [0, 1, 0], LIMITS), (720_000 * Math.SQRT2 * 0.01 * s) / (1 - s), 1e-6, '90° junction speed²');
    });

    it('plans entry speeds backward from a stop at the end and forward from the current speed', () => {
      const queue: PlannerBlock[] = [];
      for (let i = 0; i < 3; i++) {
        queueBlock(queue, makeBlock([i, 0, 0], [i + 1, 0, 0], 'feed', 6000, LIMITS)!, LIMITS, NO_OVERRIDES);
      }
      replan(queue, 0, 1);
      const a2 = 2 * 720_000;
      // Forward: entered at rest, each 1 mm block can add 2a·1 to the speed²; backward: the
      // last must stop in its 1 mm, so it is entered at most at √(2a·1).
      close(queue[1]!.entrySqr, a2, 1e-6, 'second block entry speed²');
      close(queue[2]!.entrySqr, a2, 1e-6, 'third block entry speed² (limited by the stop at its end)');
      replan(queue, 4 * a2, 1);
      close(queue[1]!.entrySqr, 2 * a2, 1e-6, 'after re-planning from a faster current speed, the reverse pass limits');
    });
  });

  describe('the motion of one block', () => {
    it('runs a trapezoid: accelerates, cruises, decelerates to its exit speed', () => {
      const a = 1; // mm/ms²
      const seg = runSegment(0, 0, 0, 100, 5, 1, a);
      close(seg.end, 5 + (100 - 12.5 - 12) / 5 + 4, 1e-9, 'end time');
      close(speedAt(seg, 2), 2, 1e-9, 'accelerating');
      close(speedAt(seg, 10), 5, 1e-9, 'cruising');
      close(speedAt(seg, seg.end), 1, 1e-9, 'exit speed');
      close(distanceAt(seg, seg.end), 100, 1e-9, 'distance at the end');
    });

    it('runs a triangle when the block is too short for its nominal speed', () => {
      const seg = runSegment(0, 0, 0, 8, 100, 0, 1);
      close(seg.end, 2 * Math.sqrt(8), 1e-9, 'end time: up to √(a·L) and down again');
      close(speedAt(seg, 2), 2, 1e-9, 'accelerating');
      close(speedAt(seg, Math.sqrt(8)), Math.sqrt(8), 1e-9, 'peak speed at the middle, below the nominal speed');
    });

    it('stops a hold in v²/2a, or reaches the block end still moving', () => {
      const inBlock = stopSegment(0, 10, 4, 100, 2);
      assert.equal(inBlock.reason, 'stopped');
      close(distanceAt(inBlock, inBlock.end) - 10, 16 / 4, 1e-9, 'stop distance');
      const past = stopSegment(0, 98, 4, 100, 2);
      assert.equal(past.reason, 'block-end');
      close(speedAt(past, past.end), Math.sqrt(16 - 8), 1e-9, 'speed carried into the next block');
    });
  });

  describe('the simulator', () => {
    let sim: GrblSimulator;
    let client: Client;

    async function start(options: GrblSimulatorOptions = {}): Promise<void> {
      sim = new GrblSimulator({ timeScale: 10, startLocked: false, ...options });
      const { port } = await sim.listen();
      client = await Client.connect(port);
      await client.next(/^Grbl 1\.1h/);
    }

    afterEach(async () => {
      client?.close();
      await sim?.close();
    });

    it('takes the accelerated time, not distance/feed: 10 mm at F6000 with 200 mm/s² is a triangle of 0.447 s', async () => {
      await start();
      let peak = 0;
      let sampling = true;
      const sample = (): void => {
        if (!sampling) return;
        peak = Math.max(peak, sim.feedRate);
        setImmediate(sample);
      };
      const t0 = performance.now();
      const ended = new Promise<number>((resolve) => sim.once('motion-end', () => resolve(performance.now())));
      assert.equal(await client.command('G1 X-10 F6000'), 'ok');
      sample();
      const end = await ended;
      sampling = false;
      // At constant speed it would take 0.1 s (10 ms at 10×); accelerating it takes 2·√(10/200) s.
      assert.ok(end - t0 >= 44, `the move took ${(end - t0).toFixed(1)} ms, not less than its 44.7 ms`);
      assert.ok(peak <= Math.sqrt(2 * 200 * 5) * 60 + 1e-6, `never above the triangle's peak: ${peak} mm/min`);
      assert.ok(peak < 6000);
    });

    it('a feed hold stops v²/2a past the point where the hold arrived, along the path', async () => {
      await start({ acceleration: 50 });
      const hold: { x: number; rate: number }[] = [];
      sim.on('realtime', (byte: number) => {
        if (byte === Realtime.FeedHold) hold.push({ x: sim.machinePosition.x, rate: sim.feedRate });
      });
      assert.equal(await client.command('G1 X-100 F1200'), 'ok'); // 20 mm/s, reached after 4 mm
      await new Promise<void>((resolve) => {
        const check = (): void => (sim.machinePosition.x < -10 ? resolve() : void setTimeout(check, 5));
        check();
      });
      client.send('!');
      await waitForState(client, 'Hold:0');
      const v = hold[0]!.rate / 60;
      close(hold[0]!.x - sim.machinePosition.x, (v * v) / (2 * 50), 1e-6, 'stop distance past the hold point, mm');
      close(v, 20, 1e-9, 'the hold arrived while cruising at F1200');
    });

    it('runs collinear segments through at full speed and slows for a corner to its junction speed', async () => {
      await start({ acceleration: 200 });
      const atEnds: number[] = [];
      sim.on('motion-end', (e: MotionEvent) => atEnds.push(e.rate));
      client.send('G1 X-20 F3000\nG1 X-40\nG1 X-40 Y-20\n');
      for (let i = 0; i < 3; i++) assert.equal(await client.next(isResponse), 'ok');
      await waitForState(client, 'Idle');
      const s = Math.SQRT1_2;
      const corner = Math.sqrt((200 * Math.SQRT2 * 0.01 * s) / (1 - s)) * 60; // mm/min
      close(atEnds[0]!, 3000, 1e-6, 'straight on: no slowdown between collinear segments');
      close(atEnds[1]!, corner, 1e-6, '90° corner at the junction-deviation speed');
      assert.equal(atEnds[2], 0, 'the last block stops at its end');
    });

    it('plans with the settings as they are now: $11 and $120/$121 changed with $n=, junctionDeviation as an option', async () => {
      await start({ junctionDeviation: 0.02 });
      assert.equal(await client.command('$$'), 'ok');
      assert.ok(client.lines.includes('$11=0.020'));
      for (const line of ['$11=0.05', '$120=100', '$121=100']) assert.equal(await client.command(line), 'ok');
      const atEnds: number[] = [];
      sim.on('motion-end', (e: MotionEvent) => atEnds.push(e.rate));
      client.send('G1 X-20 F3000\nG1 X-20 Y-20\n');
      for (let i = 0; i < 2; i++) assert.equal(await client.next(isResponse), 'ok');
      await waitForState(client, 'Idle');
      const s = Math.SQRT1_2;
      close(atEnds[0]!, Math.sqrt((100 * Math.SQRT2 * 0.05 * s) / (1 - s)) * 60, 1e-6, 'corner speed from $11=0.05 and 100 mm/s²');
    });

    it('re-plans as blocks arrive: a second block queued during the first lifts its exit speed', async () => {
      await start({ acceleration: 200 });
      const atEnds: number[] = [];
      sim.on('motion-end', (e: MotionEvent) => atEnds.push(e.rate));
      assert.equal(await client.command('G1 X-300 F3000'), 'ok');
      // Sent at once: the first block runs for 6 s of machine time (600 ms at 10×).
      assert.equal(sim.state, 'Run');
      assert.equal(await client.command('G1 X-330'), 'ok');
      await waitForState(client, 'Idle');
      close(atEnds[0]!, 3000, 1e-6, 'the first block no longer stops at its end');
    });
  });
});
