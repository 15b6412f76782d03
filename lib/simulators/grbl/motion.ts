/**
 * Kinematics of the executing block: its motion from a given instant as phases of constant
 * acceleration (accelerate, cruise, decelerate: a trapezoid, or a triangle when the block is too
 * short to reach its nominal speed), or a stop at the block's acceleration for a feed hold.
 *
 * Times are real milliseconds on the simulator's clock and speeds mm per real ms; machine time
 * is scaled by `timeScale` before it gets here.
 */
import type { Axes } from './gcode-parser';
import type { PlannerBlock } from './planner';

export type { PlannerBlock } from './planner';

/** A stretch of constant acceleration: s(t) = s0 + v0·(t−t0) + a·(t−t0)²/2 for t in [t0, t1]. */
interface Phase {
  t0: number;
  t1: number;
  s0: number;
  v0: number;
  /** mm per ms², signed. */
  a: number;
}

/** The motion of the executing block from `t0` until `end`. */
export interface Segment {
  t0: number;
  /** Distance along the block and speed at t0. */
  s0: number;
  v0: number;
  phases: Phase[];
  /** When the motion ends, and whether at the block's end or at rest part-way (a stop). */
  end: number;
  reason: 'block-end' | 'stopped';
  /** Block length: the distance at the end when reason is 'block-end'. */
  length: number;
  /** True for a stop (feed hold, jog cancel, door, soft-limit hold). */
  stopping: boolean;
}

function at(seg: Segment, t: number): { s: number; v: number } {
  if (t >= seg.end) {
    const last = seg.phases.at(-1);
    const v = last ? last.v0 + last.a * (last.t1 - last.t0) : seg.v0;
    if (seg.reason === 'block-end') return { s: seg.length, v: Math.max(0, v) };
    return { s: Math.min(seg.length, last ? last.s0 + last.v0 * (last.t1 - last.t0) + (last.a * (last.t1 - last.t0) ** 2) / 2 : seg.s0), v: 0 };
  }
  if (t <= seg.t0) return { s: seg.s0, v: seg.v0 };
  const phase = seg.phases.find((p) => t <= p.t1) ?? seg.phases.at(-1)!;
  const dt = Math.min(t, phase.t1) - phase.t0;
  return { s: Math.min(seg.length, phase.s0 + phase.v0 * dt + (phase.a * dt * dt) / 2), v: Math.max(0, phase.v0 + phase.a * dt) };
}

/** Distance travelled along the block at time t. */
export function distanceAt(seg: Segment, t: number): number {
  return at(seg, t).s;
}

/** Speed at time t, mm per ms. */
export function speedAt(seg: Segment, t: number): number {
  return at(seg, t).v;
}

/** Appends phases in order, each starting where the previous ended. */
class PhaseList {
  readonly phases: Phase[] = [];
  constructor(private t: number, private s: number, private v: number) {}
  /** Changes speed from the current one to `to` at `a` (≥ 0, magnitude). */
  ramp(to: number, a: number): this {
    if (Math.abs(to - this.v) < 1e-15 || a <= 0) return this;
    const signed = to > this.v ? a : -a;
    return this.push((to - this.v) / signed, signed);
  }
  /** Holds the current speed for `distance`. */
  cruise(distance: number): this {
    if (distance <= 0 || this.v <= 0) return this;
    return this.push(distance / this.v, 0);
  }
  /** Changes speed uniformly from the current one to `to` over `distance`. */
  uniform(to: number, distance: number): this {
    if (distance <= 0 || this.v + to <= 0) return this;
    const dt = (2 * distance) / (this.v + to);
    return this.push(dt, (to - this.v) / dt);
  }
  private push(dt: number, a: number): this {
    this.phases.push({ t0: this.t, t1: this.t + dt, s0: this.s, v0: this.v, a });
    this.s += this.v * dt + (a * dt * dt) / 2;
    this.v += a * dt;
    this.t += dt;
    return this;
  }
  get time(): number {
    return this.t;
  }
}

/**
 * The block run from distance `s0` at speed `v0` to its end, cruising at `nominal` and leaving
 * at `exit`, accelerating and decelerating at `a`. A block entered faster than its nominal speed
 * (the feed override was lowered) slows to it first; one that cannot slow to its exit speed in
 * the distance left slows uniformly across it.
 */
export function runSegment(t0: number, s0: number, v0: number, length: number, nominal: number, exit: number, a: number): Segment {
  const distance = Math.max(0, length - s0);
  const list = new PhaseList(t0, s0, v0);
  const vn = Math.max(nominal, 1e-12);
  const ve = Math.min(exit, vn, Math.sqrt(v0 * v0 + 2 * a * distance));
  const toReach = (from: number, to: number): number => Math.abs(to * to - from * from) / (2 * a);
  if (distance > 0) {
    if (v0 > vn) {
      if (toReach(v0, vn) + toReach(vn, ve) <= distance) {
        list.ramp(vn, a).cruise(distance - toReach(v0, vn) - toReach(vn, ve)).ramp(ve, a);
      } else list.uniform(ve, distance);
    } else {
      const peakSqr = (2 * a * distance + v0 * v0 + ve * ve) / 2;
      if (peakSqr >= vn * vn) list.ramp(vn, a).cruise(distance - toReach(v0, vn) - toReach(vn, ve)).ramp(ve, a);
      else if (peakSqr >= v0 * v0) {
        const peak = Math.sqrt(peakSqr);
        list.ramp(peak, a).ramp(ve, a);
      } else list.uniform(ve, distance);
    }
  }
  return { t0, s0, v0, phases: list.phases, end: list.time, reason: 'block-end', length, stopping: false };
}

/**
 * A stop from distance `s0` at speed `v0`, decelerating at `a`: it comes to rest part-way
 * ('stopped'), or reaches the block's end still moving ('block-end') and goes on stopping in the
 * next block.
 */
export function stopSegment(t0: number, s0: number, v0: number, length: number, a: number): Segment {
  const distance = Math.max(0, length - s0);
  const list = new PhaseList(t0, s0, v0);
  let reason: Segment['reason'] = 'stopped';
  if (v0 > 0) {
    if ((v0 * v0) / (2 * a) >= distance) {
      reason = 'block-end';
      list.uniform(Math.sqrt(Math.max(0, v0 * v0 - 2 * a * distance)), distance);
    } else list.ramp(0, a);
  } else if (distance <= 0) reason = 'block-end';
  return { t0, s0, v0, phases: list.phases, end: list.time, reason, length, stopping: true };
}

/** Point at distance s along a block. */
export function pointAt(block: PlannerBlock, s: number): Axes {
  const f = Math.min(1, Math.max(0, s / block.length));
  return [0, 1, 2].map((i) => block.start[i]! + (block.target[i]! - block.start[i]!) * f) as Axes;
}
