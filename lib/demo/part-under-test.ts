/** A point in machine coordinates, mm. */
export interface ProbePosition {
  readonly x: number;
  readonly y: number;
  readonly z: number;
}

/**
 * The demo cell's part under test: a resistive track (the 100 Ω load on the power supply's
 * CH1) lying along X under the gantry's work area. CH1 feeds its end at X 0; its end at X -300
 * is grounded. The gantry carries the DMM's probe: with the probe down on the track (Z at or
 * below -5 mm, the scan's points are at -10) the DMM sees the track's voltage at the probe's X,
 * CH1's voltage × (300 + X) / 300 (4 V, 2.5 V and 1 V at the example's points A, B and C with
 * CH1 at 5 V); with the probe up, or CH1 off, it sees 0 V. Only the DMM's DC volts follow the
 * part; its other functions keep their own inputs.
 */
export const DEMO_PART = {
  /** Machine X of the end CH1 feeds, and of the grounded end, mm. */
  fedAtX: 0,
  groundedAtX: -300,
  /** The probe touches the track at or below this machine Z, mm. */
  touchesAtZ: -5,
} as const;

/**
 * The voltage the DMM's probe sees on the part: `supplyVolts` (CH1's voltage at its terminals,
 * 0 when off) divided along the track at the probe's X (clamped to the track's ends) while the
 * probe is down on it, else 0.
 */
export function probeVolts(supplyVolts: number, probe: ProbePosition): number {
  if (probe.z > DEMO_PART.touchesAtZ) return 0;
  const length = DEMO_PART.fedAtX - DEMO_PART.groundedAtX;
  const along = Math.min(length, Math.max(0, probe.x - DEMO_PART.groundedAtX));
  return (supplyVolts * along) / length;
}
