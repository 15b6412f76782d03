/**
 * The generic furnace controller's register map: what the furnace driver's `generic` preset
 * assumes by default and what the furnace simulator's `generic` unit serves (defined here once,
 * so the two cannot drift apart). Holding registers (0-based protocol addresses), signed 16-bit
 * integers; temperatures in °C × 10 and outputs in % × 10.
 */
export const GENERIC_FURNACE_MAP = {
  /** Process value, read-only. Reads 32767 (`GENERIC_SENSOR_BREAK_PV`) with a sensor break. */
  pv: 0,
  /** Setpoint (RAM: written as often as wanted). */
  setpoint: 1,
  /** Heater output now, read-only. */
  output: 2,
  /** Mode: 0 auto, 1 manual. */
  mode: 3,
  /** Output in manual mode. */
  manualOutput: 4,
  /** Run: 1 run, 0 stop (output off). */
  run: 5,
  /** Status: bit 0 sensor break. */
  status: 6,
  /** Scale of temperatures and outputs: register = value / scale. */
  scale: 0.1,
} as const;

/** The generic map's PV with a sensor break (the largest signed 16-bit value). */
export const GENERIC_SENSOR_BREAK_PV = 32767;
