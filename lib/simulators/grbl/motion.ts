/**
 * Kinematics of the simulated machine: planner blocks and the piecewise motion of the block
 * being executed. Blocks run at constant velocity from block to block (no acceleration
 * planning); only stops (feed hold, jog cancel, safety door, soft-limit hold) decelerate, with
 * a constant deceleration, so a hold takes a realistic, non-zero time and distance.
 *
 * Times are real milliseconds on the simulator's clock; machine time is scaled by
 * `timeScale` before it gets here (speeds are given in mm per real ms).
 */
import type { Axes, MotionKind } from './gcode-parser';

/** One planner block: a straight move. */
export interface PlannerBlock {
  start: Axes;
  target: Axes;
  /** Euclidean length, mm. */
  length: number;
  kind: MotionKind;
  /** Programmed rate, mm/min (for 'inverse', the G93 F word: blocks per minute). */
  feed: number;
  /** Line whose motion ends with this block (set on the last block of a line). */
  line: string | null;
}

/** Builds a block, or returns null for a zero-length move (plan_buffer_line's empty block). */
export function makeBlock(start: Axes, target: Axes, kind: MotionKind, feed: number, line: string | null): PlannerBlock | null {
  const d = target.map((t, i) => t - start[i]!);
  const length = Math.hypot(d[0]!, d[1]!, d[2]!);
  if (length < 1e-6) return null;
  return { start: [...start], target: [...target], length, kind, feed, line };
}

/**
 * The nominal speed of a block in mm/min with overrides applied, capped per axis by the
 * max rates as the planner does (limit_value_by_axis_maximum).
 */
export function blockRate(
  block: PlannerBlock,
  maxRate: Axes,
  overrides: { feed: number; rapid: number },
): number {
  let limit = Infinity;
  for (let i = 0; i < 3; i++) {
    const unit = Math.abs(block.target[i]! - block.start[i]!) / block.length;
    if (unit > 1e-9) limit = Math.min(limit, maxRate[i]! / unit);
  }
  let rate: number;
  switch (block.kind) {
    case 'rapid':
      rate = (limit * overrides.rapid) / 100;
      break;
    case 'jog':
      rate = block.feed;
      break;
    case 'inverse':
      rate = ((block.length * block.feed) * overrides.feed) / 100;
      break;
    default:
      rate = (block.feed * overrides.feed) / 100;
  }
  return Math.min(rate, limit);
}

/**
 * A piece of motion along the current block: distance s(t) = s0 + v0·dt − a·dt²/2, where
 * `a` is 0 while cruising and the stopping deceleration while holding.
 */
export interface Segment {
  t0: number;
  s0: number;
  /** mm per ms */
  v0: number;
  /** mm per ms², ≥ 0 */
  decel: number;
}

/** Distance travelled along the block at time t (clamped at the stop point and block end). */
export function distanceAt(seg: Segment, t: number, length: number): number {
  let dt = Math.max(0, t - seg.t0);
  if (seg.decel > 0) dt = Math.min(dt, seg.v0 / seg.decel);
  return Math.min(length, seg.s0 + seg.v0 * dt - (seg.decel * dt * dt) / 2);
}

/** Speed at time t, mm per ms. */
export function speedAt(seg: Segment, t: number): number {
  const dt = Math.max(0, t - seg.t0);
  return Math.max(0, seg.v0 - seg.decel * dt);
}

/**
 * When the segment ends and why: it reaches the block end ('block-end') or, when decelerating,
 * comes to rest before it ('stopped').
 */
export function segmentEnd(seg: Segment, length: number): { at: number; reason: 'block-end' | 'stopped' } {
  const remaining = length - seg.s0;
  if (remaining <= 1e-9) return { at: seg.t0, reason: 'block-end' };
  if (seg.decel <= 0) {
    if (seg.v0 <= 0) return { at: Infinity, reason: 'stopped' };
    return { at: seg.t0 + remaining / seg.v0, reason: 'block-end' };
  }
  const disc = seg.v0 * seg.v0 - 2 * seg.decel * remaining;
  if (disc >= 0) return { at: seg.t0 + (seg.v0 - Math.sqrt(disc)) / seg.decel, reason: 'block-end' };
  return { at: seg.t0 + seg.v0 / seg.decel, reason: 'stopped' };
}

/** Point at distance s along a block. */
export function pointAt(block: PlannerBlock, s: number): Axes {
  const f = block.length > 0 ? Math.min(1, s / block.length) : 1;
  return [0, 1, 2].map((i) => block.start[i]! + (block.target[i]! - block.start[i]!) * f) as Axes;
}
