/**
 * The motion planner, modelled on GRBL 1.1h's planner.c (our own code, from its documented
 * behaviour): each straight move becomes a block with an acceleration and a rapid rate limited
 * per axis for its direction ($120–$122, $110–$112), a maximum junction speed with the block
 * before it from the junction deviation ($11), and a nominal speed (programmed rate with the
 * overrides, capped by the rapid rate). Entry speeds are re-planned whenever the queue changes:
 * a reverse pass from the last block (which must be able to stop at its end) and a forward
 * pass from the executing block (which enters at its current speed), so every block follows a
 * trapezoid or triangle speed profile and the machine never exceeds what it can stop from.
 *
 * Units are GRBL's: mm, mm/min and mm/min².
 */
import type { Axes, MotionKind } from './gcode-parser';

/** GRBL's MINIMUM_FEED_RATE (mm/min): no block is planned slower. */
const MINIMUM_FEED_RATE = 1;
/** Stands in for an unbounded junction speed (a straight continuation). */
const UNBOUNDED = 1e38;

/** One planner block: a straight move. */
export interface PlannerBlock {
  start: Axes;
  target: Axes;
  /** Euclidean length, mm. */
  length: number;
  /** Unit vector of the move. */
  unit: Axes;
  kind: MotionKind;
  /** Programmed F word as given: mm/min, or for 'inverse' (G93) moves per minute. */
  feed: number;
  /** Rate the block was programmed at, mm/min (for G93 the F word × the full move length). */
  programmedRate: number;
  /** Acceleration for this direction, mm/min²: the tightest axis limit along the move. */
  acceleration: number;
  /** Fastest rate for this direction, mm/min: the tightest axis max rate along the move. */
  rapidRate: number;
  /** Largest speed² at the junction with the previous block, (mm/min)². */
  maxJunctionSqr: number;
  /** Nominal (cruise) speed with the overrides applied, mm/min. */
  nominal: number;
  /** Largest speed² the block may be entered at, (mm/min)². */
  maxEntrySqr: number;
  /** Planned entry speed², (mm/min)². */
  entrySqr: number;
  /** Line whose motion ends with this block (set on the last block of a line). */
  line: string | null;
}

/** What planning needs from the settings, in GRBL's units. */
export interface PlannerLimits {
  /** $110–$112, mm/min. */
  maxRate: Axes;
  /** $120–$122 converted to mm/min². */
  acceleration: Axes;
  /** $11, mm. */
  junctionDeviation: number;
}

/** The overrides that change nominal speeds, in percent. */
export interface SpeedOverrides {
  feed: number;
  rapid: number;
}

/** The smallest of `limits[i] / |unit[i]|` over the axes the move uses (limit_value_by_axis_maximum). */
export function limitByAxes(limits: Axes, unit: Axes): number {
  let limit = UNBOUNDED;
  for (let i = 0; i < 3; i++) if (unit[i] !== 0) limit = Math.min(limit, Math.abs(limits[i]! / unit[i]!));
  return limit;
}

/**
 * Builds a block from `start` to `target`, or returns null for a zero-length move (the
 * planner's empty block). Its junction and speeds are set by `queueBlock`.
 */
export function makeBlock(
  start: Axes,
  target: Axes,
  kind: MotionKind,
  feed: number,
  limits: PlannerLimits,
): PlannerBlock | null {
  const d = target.map((t, i) => t - start[i]!) as Axes;
  const length = Math.hypot(d[0], d[1], d[2]);
  if (length < 1e-6) return null;
  const unit = d.map((v) => v / length) as Axes;
  const rapidRate = limitByAxes(limits.maxRate, unit);
  return {
    start: [...start],
    target: [...target],
    length,
    unit,
    kind,
    feed,
    programmedRate: kind === 'rapid' ? rapidRate : kind === 'inverse' ? feed * length : feed,
    acceleration: limitByAxes(limits.acceleration, unit),
    rapidRate,
    maxJunctionSqr: 0,
    nominal: 0,
    maxEntrySqr: 0,
    entrySqr: 0,
    line: null,
  };
}

/** The part of a block still to run from `from` (after a hold stopped it part-way), entered at rest. */
export function restOfBlock(block: PlannerBlock, from: Axes): PlannerBlock | null {
  const d = block.target.map((t, i) => t - from[i]!);
  const length = Math.hypot(d[0]!, d[1]!, d[2]!);
  if (length < 1e-6) return null;
  return { ...block, start: [...from], length, maxJunctionSqr: 0, maxEntrySqr: 0, entrySqr: 0 };
}

/**
 * Nominal speed of a block with the overrides (plan_compute_profile_nominal_speed()): rapids
 * scale with the rapid override, feeds with the feed override up to the rapid rate, jogs take
 * no override.
 */
export function nominalSpeed(block: PlannerBlock, overrides: SpeedOverrides): number {
  let speed = block.programmedRate;
  if (block.kind === 'rapid') speed *= overrides.rapid / 100;
  else {
    if (block.kind !== 'jog') speed *= overrides.feed / 100;
    speed = Math.min(speed, block.rapidRate);
  }
  return Math.max(speed, MINIMUM_FEED_RATE);
}

/**
 * Largest speed² through the corner from a move along `prev` into one along `unit`: the
 * centripetal acceleration of a circle that deviates `junctionDeviation` from the corner, with
 * the acceleration limited for the direction the velocity changes in. 0 for a full reversal,
 * unbounded for a straight continuation.
 */
export function junctionSpeedSqr(prev: Axes, unit: Axes, limits: PlannerLimits): number {
  let cosTheta = 0;
  const change: Axes = [0, 0, 0];
  for (let i = 0; i < 3; i++) {
    cosTheta -= prev[i]! * unit[i]!;
    change[i] = unit[i]! - prev[i]!;
  }
  if (cosTheta > 0.999999) return 0;
  if (cosTheta < -0.999999) return UNBOUNDED;
  const norm = Math.hypot(change[0], change[1], change[2]);
  const direction = change.map((v) => v / norm) as Axes;
  const acceleration = limitByAxes(limits.acceleration, direction);
  const sinHalf = Math.sqrt(0.5 * (1 - cosTheta));
  return Math.max(0, (acceleration * limits.junctionDeviation * sinHalf) / (1 - sinHalf));
}

/** Sets a block's nominal speed and its largest entry speed given the nominal before it. */
function setSpeeds(block: PlannerBlock, overrides: SpeedOverrides, previousNominal: number): void {
  block.nominal = nominalSpeed(block, overrides);
  const nominalLimit = Math.min(block.nominal, previousNominal);
  block.maxEntrySqr = Math.min(block.maxJunctionSqr, nominalLimit * nominalLimit);
}

/**
 * Appends a block to the queue: its junction with the last queued block (from rest when the
 * queue is empty) and its speeds. Call `replan` afterwards.
 */
export function queueBlock(queue: PlannerBlock[], block: PlannerBlock, limits: PlannerLimits, overrides: SpeedOverrides): void {
  const prev = queue.at(-1);
  block.maxJunctionSqr = prev ? junctionSpeedSqr(prev.unit, block.unit, limits) : 0;
  setSpeeds(block, overrides, prev ? prev.nominal : UNBOUNDED);
  block.entrySqr = 0;
  queue.push(block);
}

/** The overrides changed: every queued block's nominal and entry limit anew. Call `replan` afterwards. */
export function updateSpeeds(queue: PlannerBlock[], overrides: SpeedOverrides): void {
  let previousNominal = UNBOUNDED;
  for (const block of queue) {
    setSpeeds(block, overrides, previousNominal);
    previousNominal = block.nominal;
  }
}

/**
 * Plans the entry speeds of the queue (planner_recalculate()). The first block is the one
 * executing (or about to start): it enters at `firstEntrySqr` (its current speed²) with
 * `firstRemaining` mm left. The last block must be able to stop at its end.
 */
export function replan(queue: PlannerBlock[], firstEntrySqr: number, firstRemaining: number): void {
  const n = queue.length;
  if (n === 0) return;
  const remaining = (i: number): number => (i === 0 ? firstRemaining : queue[i]!.length);
  queue[0]!.entrySqr = firstEntrySqr;
  // Reverse pass: enter each block no faster than it can slow down to the next block's entry.
  let next = 0;
  for (let i = n - 1; i >= 1; i--) {
    const b = queue[i]!;
    b.entrySqr = Math.min(b.maxEntrySqr, next + 2 * b.acceleration * remaining(i));
    next = b.entrySqr;
  }
  // Forward pass: no block entered faster than the one before can accelerate to.
  for (let i = 0; i < n - 1; i++) {
    const cur = queue[i]!;
    const following = queue[i + 1]!;
    following.entrySqr = Math.min(following.entrySqr, cur.entrySqr + 2 * cur.acceleration * remaining(i));
  }
}

/** Speed at which block `i` of the queue is planned to end, mm/min (0 for the last). */
export function exitSpeed(queue: PlannerBlock[], i: number): number {
  const next = queue[i + 1];
  return next ? Math.sqrt(next.entrySqr) : 0;
}
