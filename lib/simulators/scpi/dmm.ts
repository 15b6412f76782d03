import { setTimeout as sleep } from 'node:timers/promises';
import { CommandContext } from './context';
import { ScpiError } from './errors';
import { formatNR3, quoteString } from './format';
import { ScpiInstrument, ScpiInstrumentOptions } from './instrument';
import { compilePattern, matchPattern, mnemonicMatches, parseToken, ScpiUnit } from './parser';

/** Measurement functions of the simulated DMM, named by their SCPI headers. */
export type DmmFunction = 'VOLT:DC' | 'VOLT:AC' | 'CURR:DC' | 'CURR:AC' | 'RES' | 'TEMP';

interface FunctionInfo {
  /** Name as `CONFigure?` and `FUNCtion?` print it. */
  readonly confName: string;
  /** Header pattern below CONFigure/MEASure/SENSe (`VOLTage[:DC]`). */
  readonly pattern: string;
  readonly unit: ScpiUnit;
  /** Ranges in ascending order; empty for temperature (no ranges). */
  readonly ranges: readonly number[];
  readonly defaultRange: number;
  /** True if integration time is set in NPLC; AC functions use a fixed filter time instead. */
  readonly nplc: boolean;
  readonly defaultInput: number;
  readonly defaultSigma: number;
}

/** 34461A ranges (data sheet); a reading above 120 % of the range is an overload. */
const FUNCTIONS: Readonly<Record<DmmFunction, FunctionInfo>> = {
  'VOLT:DC': { confName: 'VOLT', pattern: 'VOLTage[:DC]', unit: 'V', ranges: [0.1, 1, 10, 100, 1000], defaultRange: 10, nplc: true, defaultInput: 0, defaultSigma: 1e-5 },
  'VOLT:AC': { confName: 'VOLT:AC', pattern: 'VOLTage:AC', unit: 'V', ranges: [0.1, 1, 10, 100, 750], defaultRange: 10, nplc: false, defaultInput: 0, defaultSigma: 1e-4 },
  'CURR:DC': { confName: 'CURR', pattern: 'CURRent[:DC]', unit: 'A', ranges: [1e-4, 1e-3, 1e-2, 0.1, 1, 3, 10], defaultRange: 1, nplc: true, defaultInput: 0, defaultSigma: 1e-7 },
  'CURR:AC': { confName: 'CURR:AC', pattern: 'CURRent:AC', unit: 'A', ranges: [1e-4, 1e-3, 1e-2, 0.1, 1, 3, 10], defaultRange: 1, nplc: false, defaultInput: 0, defaultSigma: 1e-6 },
  RES: { confName: 'RES', pattern: 'RESistance', unit: 'OHM', ranges: [1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8], defaultRange: 1e3, nplc: true, defaultInput: Infinity, defaultSigma: 1e-3 },
  TEMP: { confName: 'TEMP', pattern: 'TEMPerature', unit: 'CEL', ranges: [], defaultRange: 0, nplc: true, defaultInput: 23, defaultSigma: 0.01 },
};
const ALL_FUNCTIONS = Object.keys(FUNCTIONS) as DmmFunction[];

/** Integration times the 34461A offers; a request in between is rounded up to the next one. */
const NPLC_STEPS = [0.02, 0.2, 1, 10, 100];
/** Resolution as a fraction of range per NPLC step (approximate 34461A figures, used for CONF?). */
const RESOLUTION_PER_NPLC: Readonly<Record<number, number>> = { 0.02: 1e-4, 0.2: 1e-5, 1: 3e-6, 10: 1e-6, 100: 3e-7 };
/** AC functions measure through a filter rather than over NPLC; modelled as 10 PLC. */
const AC_EQUIVALENT_NPLC = 10;
/** Mains frequency the NPLC refers to. */
const MAINS_HZ = 50;
const MAX_COUNT = 1_000_000;
const READING_MEMORY = 10_000;

type TriggerSource = 'IMMediate' | 'BUS' | 'EXTernal';

interface FunctionSettings {
  range: number;
  autoRange: boolean;
  nplc: number;
}

interface Run {
  readonly controller: AbortController;
  done: Promise<'complete' | 'aborted'>;
  /** Set while waiting for a `*TRG`; calling it releases the trigger. */
  busTrigger?: () => void;
}

/** Options of the DMM simulator. */
export interface DmmOptions extends ScpiInstrumentOptions {
  /** Multiplies every measurement time (NPLC/50 s per reading); 0.01 makes tests fast. Default 1. */
  readonly timeScale?: number;
  /** Serial number in `*IDN?`. */
  readonly serial?: string;
}

/** Payload of the DMM's `'reading'` event. */
export interface DmmReading {
  readonly function: DmmFunction;
  /** The reading as sent, `±9.9E+37` for an overload. */
  readonly value: number;
}

/**
 * A digital multimeter simulator modelled on the Keysight 34461A (Truevolt, 6½ digits), speaking
 * its SCPI command set over any stream or TCP.
 *
 * Measurement model: each function has a "true" input ({@link setInput}, or {@link connectInput}
 * for one that follows something else) to which gaussian noise
 * of a configurable sigma is added per reading. A reading takes NPLC/50 s × `timeScale`
 * (50 Hz mains), so `TRIG:COUN` × `SAMP:COUN` readings at 100 PLC take long enough to abort.
 * Above 120 % of the selected range (or of the top range with autorange) the reading is an
 * overload, `±9.90000000E+37`, as the 34461A reports it.
 *
 * `INIT` starts a measurement and returns at once (the instrument stays responsive, `measuring` is
 * true); `FETC?` waits for it to finish and returns all readings, comma-separated; `READ?` is
 * INIT + FETC?; `MEAS:…?` is CONF + READ?. `ABOR` ends a measurement at once and returns to idle;
 * the reading memory is then invalid. A `READ?`/`FETC?`/`MEAS?` that was waiting for the aborted
 * measurement never answers and logs `-410,"Query INTERRUPTED"`; a later `FETC?` logs
 * `-230,"Data corrupt or stale"` and does not answer, as the 34461A does when no valid readings are
 * in memory. A bare `ABOR` line is executed even while the connection waits for a reading.
 *
 * Events: `'reading'` ({@link DmmReading}), `'abort'`, `'command'` (see {@link ScpiInstrument}).
 */
export class Dmm34461A extends ScpiInstrument {
  /** Measurement time multiplier (see {@link DmmOptions.timeScale}); may be changed at any time. */
  timeScale: number;
  /** Remote/local state set by SYST:REM, SYST:LOC, SYST:RWL (front panel lockout is not simulated). */
  remoteState: 'LOCAL' | 'REMOTE' | 'RWLOCK' = 'LOCAL';
  /** Text shown on the display by DISP:TEXT, '' when the normal display is shown. */
  displayText = '';

  private func: DmmFunction = 'VOLT:DC';
  private readonly settings = {} as Record<DmmFunction, FunctionSettings>;
  private readonly inputs = {} as Record<DmmFunction, { value: number; sigma: number; source?: () => number }>;
  private triggerCount = 1;
  private sampleCount = 1;
  private triggerSource: TriggerSource = 'IMMediate';
  private readings: number[] = [];
  private readingsValid = false;
  private run: Run | undefined;

  constructor(options: DmmOptions = {}) {
    super(
      { manufacturer: 'Keysight Technologies', model: '34461A', serial: options.serial ?? 'MY53212931', firmware: 'A.02.08-02.37-02.08-00.49-01-01' },
      { signedIntegers: true },
      options,
    );
    this.timeScale = options.timeScale ?? 1;
    for (const f of ALL_FUNCTIONS) this.inputs[f] = { value: FUNCTIONS[f].defaultInput, sigma: FUNCTIONS[f].defaultSigma };
    this.resetState();
    this.defineCommands();
  }

  /**
   * Sets the "true" value at the input for a function (volts, amperes, ohms, °C), and optionally
   * the sigma of the gaussian noise added to each reading. `Infinity` models open leads.
   */
  setInput(fn: DmmFunction, value: number, sigma?: number): void {
    this.inputs[fn].value = value;
    this.inputs[fn].source = undefined;
    if (sigma !== undefined) this.setNoise(fn, sigma);
  }

  /**
   * Wires a function's input to something outside the meter (a supply feeding a part, a probe's
   * position): `source()` is read for the "true" value each time a reading is taken (and for
   * `RANGe:AUTO ONCE`), until `setInput` sets a fixed value again. Noise is added as for
   * `setInput`.
   */
  connectInput(fn: DmmFunction, source: () => number): void {
    this.inputs[fn].source = source;
  }

  /** The "true" value at a function's input now. */
  inputValue(fn: DmmFunction): number {
    const input = this.inputs[fn];
    return input.source ? input.source() : input.value;
  }

  /** Sets the standard deviation of the reading noise of one function (0 for exact readings). */
  setNoise(fn: DmmFunction, sigma: number): void {
    if (!(sigma >= 0)) throw new RangeError(`Noise sigma must be zero or positive, not ${sigma}.`);
    this.inputs[fn].sigma = sigma;
  }

  /** The selected measurement function. */
  get function(): DmmFunction {
    return this.func;
  }

  /** True while a measurement started by INIT, READ? or MEAS? is in progress. */
  override get measuring(): boolean {
    return this.run !== undefined;
  }

  /** Seconds one reading of the selected function takes right now (NPLC/50 × timeScale). */
  get apertureSeconds(): number {
    const nplc = FUNCTIONS[this.func].nplc ? this.settings[this.func].nplc : AC_EQUIVALENT_NPLC;
    return (nplc / MAINS_HZ) * this.timeScale;
  }

  /** A copy of the reading memory (valid or not). */
  get readingMemory(): number[] {
    return [...this.readings];
  }

  protected override resetState(): void {
    this.func = 'VOLT:DC';
    for (const f of ALL_FUNCTIONS) this.settings[f] = { range: FUNCTIONS[f].defaultRange, autoRange: true, nplc: 10 };
    this.triggerCount = 1;
    this.sampleCount = 1;
    this.triggerSource = 'IMMediate';
    this.readings = [];
    this.readingsValid = false;
    this.displayText = '';
  }

  protected override pendingOperations(): Promise<void> | undefined {
    return this.run?.done.then(() => undefined);
  }

  protected override stopOperations(): boolean {
    const run = this.run;
    if (!run) return false;
    this.run = undefined;
    this.readings = [];
    this.readingsValid = false;
    run.controller.abort();
    return true;
  }

  // ---- measurement ------------------------------------------------------------------------

  private initiate(): Run {
    if (this.run) throw new ScpiError(-213, 'a measurement is already in progress');
    const controller = new AbortController();
    const { signal } = controller;
    this.readings = [];
    this.readingsValid = false;
    const run: Run = { controller, done: Promise.resolve('aborted') };
    this.run = run;
    run.done = (async (): Promise<'complete' | 'aborted'> => {
        try {
          for (let t = 0; t < this.triggerCount; t++) {
            await this.waitForTrigger(run, signal);
            for (let s = 0; s < this.sampleCount; s++) {
              await sleep(this.apertureSeconds * 1000, undefined, { signal });
              const value = this.sample();
              if (this.readings.length >= READING_MEMORY) this.readings.shift();
              this.readings.push(value);
              this.emit('reading', { function: this.func, value } satisfies DmmReading);
            }
          }
          this.readingsValid = true;
          this.run = undefined;
          return 'complete';
        } catch {
          // The only rejection is the abort signal; stopOperations() already reset the state.
          return 'aborted';
        }
      })();
    return run;
  }

  private waitForTrigger(run: Run, signal: AbortSignal): Promise<void> {
    if (this.triggerSource === 'IMMediate') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      // EXTernal never fires here (there is no trigger input), which is what makes it a good
      // stand-in for "waiting on hardware" in abort tests.
      if (this.triggerSource === 'BUS') {
        run.busTrigger = () => {
          run.busTrigger = undefined;
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      }
    });
  }

  private sample(): number {
    const info = FUNCTIONS[this.func];
    const input = this.inputs[this.func];
    const value = this.inputValue(this.func) + this.gaussian() * input.sigma;
    if (!Number.isFinite(value)) return value < 0 ? -9.9e37 : 9.9e37;
    if (info.ranges.length === 0) return value;
    const s = this.settings[this.func];
    if (s.autoRange) {
      const fit = info.ranges.find((r) => Math.abs(value) <= 1.2 * r);
      if (fit === undefined) return value < 0 ? -9.9e37 : 9.9e37;
      s.range = fit;
      return value;
    }
    return Math.abs(value) > 1.2 * s.range ? (value < 0 ? -9.9e37 : 9.9e37) : value;
  }

  private gaussian(): number {
    // Box–Muller; 1 - random() keeps the logarithm away from zero.
    const u = 1 - this.random();
    const v = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  private async fetch(): Promise<string> {
    const run = this.run;
    if (run && (await run.done) === 'aborted') {
      throw new ScpiError(-410, 'ABORt discarded the measurement this query was waiting for');
    }
    return this.formatReadings();
  }

  private formatReadings(): string {
    if (!this.readingsValid || this.readings.length === 0) {
      throw new ScpiError(-230, 'no valid readings in memory (none taken since INIT, CONF or *RST, or the measurement was aborted)');
    }
    return this.readings.map((r) => formatNR3(r)).join(',');
  }

  private read(): Promise<string> {
    if (this.triggerSource === 'BUS') throw new ScpiError(-214, 'READ? with TRIG:SOUR BUS would wait for a *TRG that cannot arrive');
    this.initiate();
    return this.fetch();
  }

  // ---- configuration ----------------------------------------------------------------------

  /** CONFigure: function, range and resolution; trigger settings back to defaults (34461A behaviour). */
  private configure(fn: DmmFunction, ctx: CommandContext): void {
    if (this.run) throw new ScpiError(-221, 'cannot reconfigure while a measurement is in progress');
    const info = FUNCTIONS[fn];
    const s = this.settings[fn];
    let nplc = 10;
    if (info.ranges.length > 0) {
      if (ctx.has(0)) this.applyRange(fn, ctx, 0, true);
      else s.autoRange = true;
      if (ctx.has(1)) nplc = this.resolutionToNplc(ctx, 1, s.range, info.unit);
    }
    if (info.nplc) s.nplc = nplc;
    this.func = fn;
    this.triggerCount = 1;
    this.sampleCount = 1;
    this.triggerSource = 'IMMediate';
    this.readings = [];
    this.readingsValid = false;
  }

  /** Reads a range parameter: a value (smallest range that holds it), MIN, MAX, DEF or AUTO. */
  private applyRange(fn: DmmFunction, ctx: CommandContext, i: number, autoKeywords: boolean): void {
    const info = FUNCTIONS[fn];
    const s = this.settings[fn];
    const text = ctx.raw(i);
    if (autoKeywords && (mnemonicMatches('AUTO', text) || mnemonicMatches('DEFault', text))) {
      s.autoRange = true;
      return;
    }
    const top = info.ranges[info.ranges.length - 1];
    const wanted = ctx.number(i, { unit: info.unit, min: -top, max: top, def: info.defaultRange });
    s.range = info.ranges.find((r) => Math.abs(wanted) <= r) ?? top;
    s.autoRange = false;
  }

  private resolutionToNplc(ctx: CommandContext, i: number, range: number, unit: ScpiUnit): number {
    const text = ctx.raw(i);
    if (mnemonicMatches('MINimum', text)) return 100;
    if (mnemonicMatches('MAXimum', text)) return 0.02;
    if (mnemonicMatches('DEFault', text)) return 10;
    const res = ctx.number(i, { unit, min: 0, max: range });
    const ratio = res / range;
    const step = NPLC_STEPS.find((n) => ratio >= RESOLUTION_PER_NPLC[n]);
    return step ?? 100;
  }

  private confQuery(): string {
    const info = FUNCTIONS[this.func];
    if (info.ranges.length === 0) return quoteString(`${info.confName} FRTD,85`);
    const s = this.settings[this.func];
    const nplc = info.nplc ? s.nplc : AC_EQUIVALENT_NPLC;
    return quoteString(`${info.confName} ${formatNR3(s.range)},${formatNR3(s.range * RESOLUTION_PER_NPLC[nplc])}`);
  }

  private parseFunctionName(text: string): DmmFunction {
    const tokens = text.trim().split(':').map((t) => {
      try {
        return parseToken(t);
      } catch {
        throw new ScpiError(-224, `"${text}" is not a measurement function`);
      }
    });
    const fn = ALL_FUNCTIONS.find((f) => matchPattern(compilePattern(FUNCTIONS[f].pattern), tokens));
    if (!fn) throw new ScpiError(-224, `"${text}" is not a measurement function of the 34461A`);
    return fn;
  }

  private defineCommands(): void {
    for (const fn of ALL_FUNCTIONS) {
      const info = FUNCTIONS[fn];
      const confArgs: [number, number] = fn === 'TEMP' ? [0, 4] : [0, 2];
      this.define(`CONFigure:${info.pattern}`, { setArgs: confArgs, set: (ctx) => this.configure(fn, ctx) });
      this.define(`MEASure:${info.pattern}`, {
        queryArgs: confArgs,
        query: (ctx) => {
          this.configure(fn, ctx);
          return this.read();
        },
      });
      if (info.nplc) {
        this.define(`[SENSe:]${info.pattern}:NPLCycles`, {
          setArgs: [1, 1],
          set: (ctx) => {
            const n = ctx.number(0, { min: 0.001, max: 100, def: 10 });
            this.settings[fn].nplc = NPLC_STEPS.find((step) => step >= n - 1e-12) ?? 100;
          },
          queryArgs: [0, 1],
          query: (ctx) => {
            if (ctx.has(0)) return formatNR3(ctx.number(0, { min: 0.02, max: 100, def: 10 }));
            return formatNR3(this.settings[fn].nplc);
          },
        });
      }
      if (info.ranges.length > 0) {
        this.define(`[SENSe:]${info.pattern}:RANGe[:UPPer]`, {
          setArgs: [1, 1],
          set: (ctx) => this.applyRange(fn, ctx, 0, false),
          query: () => formatNR3(this.settings[fn].range),
        });
        this.define(`[SENSe:]${info.pattern}:RANGe:AUTO`, {
          setArgs: [1, 1],
          set: (ctx) => {
            if (mnemonicMatches('ONCE', ctx.raw(0))) {
              const v = Math.abs(this.inputValue(fn));
              this.settings[fn].range = info.ranges.find((r) => v <= 1.2 * r) ?? info.ranges[info.ranges.length - 1];
              this.settings[fn].autoRange = false;
            } else {
              this.settings[fn].autoRange = ctx.bool(0);
            }
          },
          query: () => (this.settings[fn].autoRange ? '1' : '0'),
        });
      }
    }
    this.define('CONFigure', { query: () => this.confQuery() });
    this.define('[SENSe:]FUNCtion[:ON]', {
      setArgs: [1, 1],
      set: (ctx) => {
        if (this.run) throw new ScpiError(-221, 'cannot change function while a measurement is in progress');
        this.func = this.parseFunctionName(ctx.string(0));
        this.readingsValid = false;
      },
      query: () => quoteString(FUNCTIONS[this.func].confName),
    });
    this.define('TRIGger:COUNt', {
      setArgs: [1, 1],
      set: (ctx) => {
        const n = ctx.number(0, { min: 1, max: MAX_COUNT, def: 1, keywords: { INFinity: Infinity } });
        this.triggerCount = Number.isFinite(n) ? Math.round(n) : Infinity;
      },
      query: () => formatNR3(this.triggerCount),
    });
    this.define('SAMPle:COUNt', {
      setArgs: [1, 1],
      set: (ctx) => void (this.sampleCount = Math.round(ctx.number(0, { min: 1, max: MAX_COUNT, def: 1 }))),
      query: () => this.int(this.sampleCount),
    });
    this.define('TRIGger:SOURce', {
      setArgs: [1, 1],
      set: (ctx) => void (this.triggerSource = ctx.keyword(0, ['IMMediate', 'BUS', 'EXTernal'] as const)),
      query: () => ({ IMMediate: 'IMM', BUS: 'BUS', EXTernal: 'EXT' })[this.triggerSource],
    });
    this.define('INITiate[:IMMediate]', { set: () => void this.initiate() });
    this.define('FETCh', { query: () => (this.run ? this.fetch() : this.formatReadings()) });
    this.define('READ', { query: () => this.read() });
    this.define('DATA:POINts', { query: () => this.int(this.readings.length) });
    this.defineCommon('*TRG', {
      set: () => {
        if (!this.run?.busTrigger) throw new ScpiError(-211, 'no measurement is waiting for a bus trigger');
        this.run.busTrigger();
      },
    });
    this.define('SYSTem:REMote', { set: () => void (this.remoteState = 'REMOTE') });
    this.define('SYSTem:LOCal', { set: () => void (this.remoteState = 'LOCAL') });
    this.define('SYSTem:RWLock', { set: () => void (this.remoteState = 'RWLOCK') });
    this.define('DISPlay:TEXT[:DATA]', {
      setArgs: [1, 1],
      set: (ctx) => void (this.displayText = ctx.string(0)),
      query: () => quoteString(this.displayText),
    });
    this.define('DISPlay:TEXT:CLEar', { set: () => void (this.displayText = '') });
  }
}
