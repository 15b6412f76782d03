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
