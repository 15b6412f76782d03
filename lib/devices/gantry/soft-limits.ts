import type { Axes3 } from './status-report';

/** Travel of one axis in machine coordinates, mm. */
export interface AxisLimit {
  min: number;
  max: number;
}

/** Soft limits per axis (machine coordinates); an axis left out is not limited. */
export type SoftLimits = Partial<Record<'x' | 'y' | 'z', AxisLimit>>;

const AXES = ['x', 'y', 'z'] as const;

/** The soft limits as given, checked: each limited axis needs a finite min below its max (a RangeError names the axis and the value). */
export function readSoftLimits(device: string, given: SoftLimits | undefined): SoftLimits {
  const limits: SoftLimits = {};
  for (const axis of AXES) {
    const l = given?.[axis];
    if (!l) continue;
    if (!(Number.isFinite(l.min) && Number.isFinite(l.max) && l.max > l.min)) {
      throw new RangeError(`${device}: the soft limit of ${axis.toUpperCase()} needs a finite min below its max, got ${JSON.stringify(l)}`);
    }
    limits[axis] = { min: l.min, max: l.max };
  }
  return limits;
}

/** True when at least one axis is limited. */
export function hasSoftLimits(limits: SoftLimits): boolean {
  return AXES.some((axis) => limits[axis] !== undefined);
}

/** Where a point leaves the soft limits: the first axis outside, its value (to 3 decimals) and the limit. */
export interface LimitBreach {
  axis: 'x' | 'y' | 'z';
  value: number;
  limit: AxisLimit;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** The first axis (X, Y, Z) on which `point` lies outside `limits` (compared at 3 decimals), or undefined when it is inside. */
export function limitBreach(limits: SoftLimits, point: Axes3): LimitBreach | undefined {
  for (const axis of AXES) {
    const limit = limits[axis];
    if (!limit) continue;
    const value = round3(point[axis]);
    if (value < limit.min - 1e-6 || value > limit.max + 1e-6) return { axis, value, limit };
  }
  return undefined;
}

/** A move or jog's axes and frame, as its parameters give them. */
export interface MotionParams {
  x?: number;
  y?: number;
  z?: number;
  mode?: string;
  coordinates?: string;
}

/**
 * The machine-coordinate target of a move or jog from `machine` (the position now): relative
 * targets add to it, machine-coordinate ones are taken as they are, work-coordinate ones go
 * through the work offset `wco`. Undefined when the position, or the offset an absolute
 * work-coordinate target needs, is not known yet.
 */
export function motionTarget(params: MotionParams, machine: Axes3 | undefined, wco: Axes3 | undefined): Axes3 | undefined {
  if (!machine) return undefined;
  const target = { ...machine };
  const relative = params.mode === 'relative';
  const inMachine = params.coordinates === 'machine';
  if (!relative && !inMachine && !wco) return undefined;
  for (const axis of AXES) {
    const v = params[axis];
    if (v === undefined) continue;
    target[axis] = relative ? machine[axis] + v : inMachine ? v : v + wco![axis];
  }
  return target;
}

/** GRBL's arc planes: G17 (XY), G18 (ZX), G19 (YZ). */
export type ArcPlane = 17 | 18 | 19;

/** A G2/G3 motion in machine coordinates, as a program line commands it. */
export interface ArcMotion {
  start: Axes3;
  end: Axes3;
  plane: ArcPlane;
  /** G2 (true) or G3. */
  clockwise: boolean;
  /** Centre offsets from the start (I, J, K), mm; the centre format. */
  offset?: Axes3;
  /** Radius (R), mm, negative for the arc longer than half a turn; the radius format. */
  radius?: number;
}

/** A point on an arc where it reaches its extent along one in-plane axis. */
export interface ArcExtreme {
  point: Axes3;
  /** The fraction of the arc's travel at which it is reached (0 at the start, 1 at the end). */
  at: number;
}

/** The in-plane axes (first, second, as GRBL orders them for G2/G3) and the linear axis of each plane. */
const PLANE_AXES: Record<ArcPlane, readonly ['x' | 'y' | 'z', 'x' | 'y' | 'z', 'x' | 'y' | 'z']> = {
  17: ['x', 'y', 'z'],
  18: ['z', 'x', 'y'],
  19: ['y', 'z', 'x'],
};

/** GRBL's tolerance on an arc's angular travel, below which a start equal to the end is a full turn (ARC_ANGULAR_TRAVEL_EPSILON). */
const ARC_EPSILON = 5e-7;

/**
 * The points between start and end where an arc crosses a quadrant boundary of its circle,
 * that is where it reaches its extent along an in-plane axis, in the order the arc passes them;
 * with the end points they bound everything the arc sweeps (the linear axis of a helix moves
 * evenly from start to end, so its extent is at the end points). The arc is followed as GRBL
 * does (mc_arc): the centre from the offsets, or from the radius (the shorter arc for a
 * positive R, the longer for a negative one), the radius from the start, clockwise for G2 seen
 * from the positive linear axis, a full turn when the offsets bring the end back to the start.
 * Undefined for an arc GRBL refuses (error:33): a radius too short to reach the end, or a
 * radius-format arc whose end is its start.
 */
export function arcExtremes(arc: ArcMotion): ArcExtreme[] | undefined {
  const [a0, a1, linear] = PLANE_AXES[arc.plane];
  const s0 = arc.start[a0];
  const s1 = arc.start[a1];
  const dx = arc.end[a0] - s0;
  const dy = arc.end[a1] - s1;
  let c0: number;
  let c1: number;
  if (arc.radius !== undefined) {
    const chord2 = dx * dx + dy * dy;
    const h2 = 4 * arc.radius * arc.radius - chord2;
    if (chord2 === 0 || h2 < 0) return undefined;
    // From the chord's midpoint, towards the right of the travel for G2 (left for G3), the
    // other side for the longer arc.
    let k = Math.sqrt(h2) / (2 * Math.sqrt(chord2));
    if (!arc.clockwise) k = -k;
    if (arc.radius < 0) k = -k;
    c0 = s0 + dx / 2 + k * dy;
    c1 = s1 + dy / 2 - k * dx;
  } else {
    const o = arc.offset ?? { x: 0, y: 0, z: 0 };
    c0 = s0 + o[a0];
    c1 = s1 + o[a1];
  }
  const r0 = s0 - c0;
  const r1 = s1 - c1;
  const radius = Math.hypot(r0, r1);
  if (radius === 0) return [];
  const t0 = arc.end[a0] - c0;
  const t1 = arc.end[a1] - c1;
  let travel = Math.atan2(r0 * t1 - r1 * t0, r0 * t0 + r1 * t1);
  if (arc.clockwise && travel >= -ARC_EPSILON) travel -= 2 * Math.PI;
  if (!arc.clockwise && travel <= ARC_EPSILON) travel += 2 * Math.PI;
  const startAngle = Math.atan2(r1, r0);
  const turn = 2 * Math.PI;
  const extremes: ArcExtreme[] = [];
  for (let k = 0; k < 4; k++) {
    const q = (k * Math.PI) / 2;
    // How far along the travel (radians, in its direction) the boundary at angle q lies.
    const along = travel > 0 ? (((q - startAngle) % turn) + turn) % turn : (((startAngle - q) % turn) + turn) % turn;
    if (along <= ARC_EPSILON || along >= Math.abs(travel) - ARC_EPSILON) continue;
    const at = along / Math.abs(travel);
    const point = { ...arc.start };
    point[a0] = c0 + radius * Math.cos(q);
    point[a1] = c1 + radius * Math.sin(q);
    point[linear] = arc.start[linear] + (arc.end[linear] - arc.start[linear]) * at;
    extremes.push({ point, at });
  }
  return extremes.sort((a, b) => a.at - b.at);
}
