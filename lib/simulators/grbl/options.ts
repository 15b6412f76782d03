/**
 * Options of the GRBL simulator and their defaults, in one place.
 */

/** Three-axis vector in millimetres. */
export interface Vec3 {
  x: number;
  y: number;
  z: number;
}

/** Travel of one axis in machine coordinates (GRBL convention: home at the top, space negative). */
export interface AxisTravel {
  min: number;
  max: number;
}

/** Homing cycle parameters ($24–$27). */
export interface HomingOptions {
  /** $25 seek rate, mm/min. */
  seekRate: number;
  /** $24 locate (slow) rate, mm/min. */
  feedRate: number;
  /** $27 pull-off distance, mm: after homing an axis sits at `max - pullOff`. */
  pullOff: number;
  /** $26 debounce delay after each homing move, ms (machine time). */
  debounceMs: number;
}

/** Options accepted by `new GrblSimulator(options)`. Every field is optional. */
export interface GrblSimulatorOptions {
  /** Modelled line rate; each byte in either direction takes 10/baudRate s. 0 = no wire delay. */
  baudRate?: number;
  /** RX_BUFFER_SIZE: bytes the receive ring holds; bytes arriving when it is full are lost. */
  rxBufferSize?: number;
  /** Usable planner blocks (BLOCK_BUFFER_SIZE - 1). */
  plannerBlocks?: number;
  /** Real time spent parsing and planning one line, ms (never scaled by timeScale). */
  parseTimeMs?: number;
  /** Per-axis travel in machine coordinates; when given, soft limits ($20) are enabled. */
  softLimits?: { x: AxisTravel; y: AxisTravel; z: AxisTravel };
  /** $22: homing cycle enabled. */
  homingEnabled?: boolean;
  /** $110–$112: maximum rate per axis, mm/min (G0, jogs and feeds are capped by it). */
  maxRate?: Partial<Vec3>;
  /** $120–$122: acceleration of every axis, mm/s²; moves, junctions and stops are planned with it. */
  acceleration?: number;
  /** $11: junction deviation, mm; how fast the planner takes a corner. */
  junctionDeviation?: number;
  /** Speed-up of machine time: motion, dwell, homing and deceleration run timeScale× faster. */
  timeScale?: number;
  /** Banner text printed between `\r\n` pairs at power-up and after every reset. */
  version?: string;
  /** Start (and restart after a power cycle) in Alarm until `$H` or `$X`. Default: homingEnabled. */
  startLocked?: boolean;
  /** $10 status report mask: bit 0 MPos (else WPos), bit 1 Bf field. Stock GRBL is 1. */
  statusReportMask?: number;
  /** Homing cycle parameters. */
  homing?: Partial<HomingOptions>;
  /** Pause after every `ALARM:N` line, ms (report.c delays 500 ms so the line clears the UART). */
  alarmDelayMs?: number;
  /** Whether attach() behaves as a serial open of an Arduino: DTR resets the board (power cycle). */
  resetOnAttach?: boolean;
  /** Spindle $30/$31 rpm range. */
  spindleRpm?: { min: number; max: number };
}

/** Options with every default filled in. */
export interface ResolvedGrblOptions {
  baudRate: number;
  rxBufferSize: number;
  plannerBlocks: number;
  parseTimeMs: number;
  softLimits: { x: AxisTravel; y: AxisTravel; z: AxisTravel } | null;
  homingEnabled: boolean;
  maxRate: Vec3;
  acceleration: number;
  junctionDeviation: number;
  timeScale: number;
  version: string;
  startLocked: boolean;
  statusReportMask: number;
  homing: HomingOptions;
  alarmDelayMs: number;
  resetOnAttach: boolean;
  spindleRpm: { min: number; max: number };
}

/** Default travel used for `$130`–`$132` when soft limits are off (GRBL's generic 200 mm). */
export const DEFAULT_TRAVEL = 200;

/**
 * Fills in defaults and rejects options the firmware could not have.
 * @throws RangeError when a value is out of range.
 */
export function resolveOptions(options: GrblSimulatorOptions = {}): ResolvedGrblOptions {
  const homingEnabled = options.homingEnabled ?? true;
  const resolved: ResolvedGrblOptions = {
    baudRate: options.baudRate ?? 115200,
    rxBufferSize: options.rxBufferSize ?? 128,
    plannerBlocks: options.plannerBlocks ?? 15,
    parseTimeMs: options.parseTimeMs ?? 0.2,
    softLimits: options.softLimits ?? null,
    homingEnabled,
    maxRate: { x: 5000, y: 5000, z: 1000, ...options.maxRate },
    acceleration: options.acceleration ?? 200,
    junctionDeviation: options.junctionDeviation ?? 0.01,
    timeScale: options.timeScale ?? 1,
    version: options.version ?? "Grbl 1.1h ['$' for help]",
    startLocked: options.startLocked ?? homingEnabled,
    statusReportMask: options.statusReportMask ?? 3,
    homing: { seekRate: 500, feedRate: 25, pullOff: 1, debounceMs: 250, ...options.homing },
    alarmDelayMs: options.alarmDelayMs ?? 500,
    resetOnAttach: options.resetOnAttach ?? true,
    spindleRpm: options.spindleRpm ?? { min: 0, max: 1000 },
  };
  if (!(resolved.baudRate >= 0)) throw new RangeError('baudRate must be 0 (no wire delay) or a positive number.');
  if (!(resolved.rxBufferSize >= 1)) throw new RangeError('rxBufferSize must be at least 1 byte.');
  if (!(resolved.plannerBlocks >= 1)) throw new RangeError('plannerBlocks must be at least 1.');
  if (!(resolved.timeScale > 0)) throw new RangeError('timeScale must be a positive number.');
  if (!(resolved.acceleration > 0)) throw new RangeError('acceleration must be a positive number of mm/s².');
  if (!(resolved.junctionDeviation >= 0)) throw new RangeError('junctionDeviation must not be negative.');
  if (!(resolved.parseTimeMs >= 0)) throw new RangeError('parseTimeMs must not be negative.');
  if (resolved.softLimits && !homingEnabled) {
    throw new RangeError('Soft limits need homing enabled, as in GRBL ($20 requires $22).');
  }
  for (const axis of ['x', 'y', 'z'] as const) {
    if (!(resolved.maxRate[axis] > 0)) throw new RangeError(`maxRate.${axis} must be a positive mm/min value.`);
    const t = resolved.softLimits?.[axis];
    if (t && !(t.max > t.min)) throw new RangeError(`softLimits.${axis}.max must be greater than its min.`);
  }
  return resolved;
}
