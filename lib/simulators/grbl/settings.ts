/**
 * The `$n=value` settings table of GRBL 1.1h (settings.c / report.c): what `$$` prints and
 * what `$n=v` accepts. Settings live as long as the simulator (they model EEPROM) and survive
 * soft resets and power cycles.
 */
import { ErrorCode } from './codes';
import { DEFAULT_TRAVEL, ResolvedGrblOptions } from './options';

/** Setting numbers printed as integers (the rest print with three decimals). */
const INTEGER_SETTINGS = new Set([0, 1, 2, 3, 4, 5, 6, 10, 13, 20, 21, 22, 23, 26, 32]);
/** Setting numbers printed with zero decimals (rpm). */
const RPM_SETTINGS = new Set([30, 31]);
/** Boolean settings: any non-zero value stores 1. */
const FLAG_SETTINGS = new Set([4, 5, 6, 13, 20, 21, 22, 32]);

/** The settings table with the order `$$` prints it in. */
export class GrblSettings {
  private readonly values = new Map<number, number>();
  /** Home (maximum) coordinate of each axis; travel ($130..) extends below it. */
  readonly homeAt: [number, number, number];

  /** Builds the table from resolved simulator options. */
  constructor(options: ResolvedGrblOptions) {
    const sl = options.softLimits;
    this.homeAt = sl ? [sl.x.max, sl.y.max, sl.z.max] : [0, 0, 0];
    const defaults: Array<[number, number]> = [
      [0, 10], [1, 25], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0],
      [10, options.statusReportMask], [11, options.junctionDeviation], [12, 0.002], [13, 0],
      [20, sl ? 1 : 0], [21, 0], [22, options.homingEnabled ? 1 : 0], [23, 0],
      [24, options.homing.feedRate], [25, options.homing.seekRate], [26, options.homing.debounceMs],
      [27, options.homing.pullOff], [30, options.spindleRpm.max], [31, options.spindleRpm.min], [32, 0],
      [100, 250], [101, 250], [102, 250],
      [110, options.maxRate.x], [111, options.maxRate.y], [112, options.maxRate.z],
      [120, options.acceleration], [121, options.acceleration], [122, options.acceleration],
      [130, sl ? sl.x.max - sl.x.min : DEFAULT_TRAVEL],
      [131, sl ? sl.y.max - sl.y.min : DEFAULT_TRAVEL],
      [132, sl ? sl.z.max - sl.z.min : DEFAULT_TRAVEL],
    ];
    for (const [n, v] of defaults) this.values.set(n, v);
  }

  /** Current value of setting `n` (0 when unknown). */
  get(n: number): number {
    return this.values.get(n) ?? 0;
  }

  /** `$$` output lines, without line ends. */
  report(): string[] {
    const lines: string[] = [];
    for (const [n, v] of [...this.values.entries()].sort((a, b) => a[0] - b[0])) {
      const text = INTEGER_SETTINGS.has(n) ? String(Math.trunc(v)) : RPM_SETTINGS.has(n) ? v.toFixed(0) : v.toFixed(3);
      lines.push(`$${n}=${text}`);
    }
    return lines;
  }

  /**
   * Stores `$n=value` as settings_store_global_setting() does.
   * @returns 0 on success, otherwise the GRBL status code to answer with.
   */
  store(n: number, value: number): number {
    if (value < 0) return ErrorCode.NegativeValue;
    if (!this.values.has(n)) return ErrorCode.InvalidStatement;
    if (n === 0 && value < 3) return ErrorCode.StepPulseTooShort;
    if (n === 20 && value !== 0 && this.get(22) === 0) return ErrorCode.SoftLimitError;
    const stored = FLAG_SETTINGS.has(n) ? (value !== 0 ? 1 : 0) : INTEGER_SETTINGS.has(n) ? Math.trunc(value) : value;
    this.values.set(n, stored);
    // Turning homing off also turns soft limits off, as the firmware does.
    if (n === 22 && stored === 0) this.values.set(20, 0);
    return 0;
  }

  /** Soft limits ($20) enabled. */
  get softLimitsEnabled(): boolean {
    return this.get(20) !== 0;
  }
  /** Homing ($22) enabled. */
  get homingEnabled(): boolean {
    return this.get(22) !== 0;
  }
  /** Max rate of axis i (0..2), mm/min. */
  maxRate(i: number): number {
    return this.get(110 + i);
  }
  /** Travel window of axis i in machine coordinates. */
  travel(i: number): { min: number; max: number } {
    const max = this.homeAt[i] ?? 0;
    return { min: max - this.get(130 + i), max };
  }
}
