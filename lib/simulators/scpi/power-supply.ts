import { CommandContext } from './context';
import { ScpiError } from './errors';
import { formatFixed } from './format';
import { ScpiInstrument, ScpiInstrumentOptions } from './instrument';
import { mnemonicMatches } from './parser';

/** Regulation mode of a channel, as `:OUTPut:MODE?` reports it. */
export type RegulationMode = 'CV' | 'CC' | 'UR';

/** A channel's state as tests and demos see it (the `'output'` event carries the same shape). */
export interface OutputSnapshot {
  readonly channel: number;
  readonly enabled: boolean;
  readonly voltageSetpoint: number;
  readonly currentLimit: number;
  /** Voltage at the terminals: 0 when off, the setpoint in CV, limit × load in CC. */
  readonly measuredV: number;
  readonly measuredA: number;
  readonly mode: RegulationMode;
  /** Simulated load across the terminals in ohms (`Infinity` = nothing connected). */
  readonly loadOhms: number;
}

/** Rated output of one channel. */
export interface ChannelRating {
  readonly volts: number;
  readonly amps: number;
}

/** Options of the power supply simulator. */
export interface PowerSupplyOptions extends ScpiInstrumentOptions {
  /** Serial number in `*IDN?`. */
  readonly serial?: string;
  /** Load resistance per channel in ohms at start (index 0 = CH1); default open circuit. */
  readonly loadOhms?: readonly number[];
  /** Sigma of gaussian noise on MEAS readings, in volts and amperes; default 0 (exact readings). */
  readonly measurementNoise?: { readonly volts: number; readonly amps: number };
}

interface ChannelState {
  vset: number;
  iset: number;
  enabled: boolean;
  load: number;
}

/** DP821 ratings (Rigol DP800 data sheet): CH1 60 V / 1 A, CH2 8 V / 10 A. */
const DP821: readonly ChannelRating[] = [
  { volts: 60, amps: 1 },
  { volts: 8, amps: 10 },
];

/**
 * A two-channel programmable DC power supply simulator modelled on the Rigol DP821 (DP800
 * series: CH1 60 V/1 A, CH2 8 V/10 A), speaking the DP800 SCPI command set: `:APPLy CH1,5,1`,
 * `:INSTrument[:SELect] CH1` / `:INSTrument:NSELect 1`, `[:SOURce<n>]:VOLTage`/`:CURRent`,
 * `:OUTPut[:STATe] [CH1,]ON|OFF`, `:MEASure[:VOLTage]? [CH1]`, `:MEASure:CURRent?`, `:POWEr?`,
 * `:ALL?`, `:OUTPut:MODE?`. Commands without a channel act on the selected channel.
 *
 * Each channel drives a configurable load resistance ({@link setLoad}): with the output on, the
 * current is V/R while that stays below the current setpoint (CV), otherwise the supply limits the
 * current and the voltage drops to I×R (CC). Setpoints outside 0…rating are rejected with
 * `-222,"Data out of range"` (the real unit accepts a few percent over rating; not modelled).
 * `*RST` switches every output off, selects CH1 and sets 0 V and the rated current on each
 * channel. Responses use the DP800's fixed-point formats (`5.000`, `1.0000`) and unsigned
 * integers (`0,"No error"`).
 *
 * Events: `'output'` ({@link OutputSnapshot}) whenever a channel's setting changes, plus those of
 * {@link ScpiInstrument}.
 */
export class RigolDP821 extends ScpiInstrument {
  /** Channel ratings; index 0 is CH1. */
  readonly ratings: readonly ChannelRating[] = DP821;

  private readonly channels: ChannelState[];
  private selected = 1;
  private readonly noise: { volts: number; amps: number };

  constructor(options: PowerSupplyOptions = {}) {
    super(
      { manufacturer: 'RIGOL TECHNOLOGIES', model: 'DP821', serial: options.serial ?? 'DP8E241400123', firmware: '00.01.16' },
      { signedIntegers: false },
      options,
    );
    this.noise = { ...(options.measurementNoise ?? { volts: 0, amps: 0 }) };
    this.channels = this.ratings.map((r, i) => ({ vset: 0, iset: r.amps, enabled: false, load: options.loadOhms?.[i] ?? Infinity }));
    this.resetState();
    this.defineCommands();
  }

  /** Connects a load of `ohms` to a channel's terminals (`Infinity` = open, a small value ≈ short). */
  setLoad(channel: number, ohms: number): void {
    if (!(ohms > 0)) throw new RangeError(`A load must be a positive resistance in ohms, not ${ohms}.`);
    this.state(channel).load = ohms;
    this.emitOutput(channel);
  }

  /** Snapshot of every channel, CH1 first. */
  get outputs(): OutputSnapshot[] {
    return this.channels.map((_, i) => this.output(i + 1));
  }

  /** Snapshot of one channel (1-based). */
  output(channel: number): OutputSnapshot {
    const c = this.state(channel);
    const m = this.regulate(c);
    return { channel, enabled: c.enabled, voltageSetpoint: c.vset, currentLimit: c.iset, measuredV: m.v, measuredA: m.i, mode: m.mode, loadOhms: c.load };
  }

  /** The channel that commands without a channel argument act on. */
  get selectedChannel(): number {
    return this.selected;
  }

  protected override resetState(): void {
    this.selected = 1;
    this.channels.forEach((c, i) => {
      c.vset = 0;
      c.iset = this.ratings[i].amps;
      c.enabled = false;
      this.emitOutput(i + 1);
    });
  }

  private state(channel: number): ChannelState {
    const c = this.channels[channel - 1];
    if (!c) throw new RangeError(`The DP821 has channels 1 and 2, not ${channel}.`);
    return c;
  }

  private regulate(c: ChannelState): { v: number; i: number; mode: RegulationMode } {
    // The DP800 reports CV for a disabled channel, so the mode is computed as if it were on.
    const cv = !Number.isFinite(c.load) || c.vset / c.load <= c.iset;
    const mode: RegulationMode = cv ? 'CV' : 'CC';
    if (!c.enabled) return { v: 0, i: 0, mode };
    if (cv) return { v: c.vset, i: Number.isFinite(c.load) ? c.vset / c.load : 0, mode };
    return { v: c.iset * c.load, i: c.iset, mode };
  }

  private measure(channel: number): { v: number; i: number } {
    const m = this.regulate(this.state(channel));
    const jitter = (sigma: number) => (sigma > 0 ? sigma * Math.sqrt(-2 * Math.log(1 - this.random())) * Math.cos(2 * Math.PI * this.random()) : 0);
    if (m.v === 0 && m.i === 0) return { v: 0, i: 0 };
    return { v: Math.max(0, m.v + jitter(this.noise.volts)), i: Math.max(0, m.i + jitter(this.noise.amps)) };
  }

  private emitOutput(channel: number): void {
    this.emit('output', this.output(channel));
  }

  /** Reads a `CH1`/`CH2` parameter; other channel names are illegal values (-224). */
  private channelParam(ctx: CommandContext, i: number): number {
    const text = ctx.raw(i);
    const m = /^CH(\d+)$/i.exec(text);
    const n = m ? Number(m[1]) : NaN;
    if (!(n >= 1 && n <= this.channels.length)) throw new ScpiError(-224, `${text} is not a channel of the DP821 (CH1 or CH2)`);
    return n;
  }

  private isChannelParam(ctx: CommandContext, i: number): boolean {
    return ctx.has(i) && /^CH\d+$/i.test(ctx.raw(i));
  }

  /** Channel addressed by a `SOURce<n>` suffix, or the selected one; a suffix beyond CH2 is -114. */
  private sourceChannel(ctx: CommandContext): number {
    const n = ctx.suffix('SOURCE', this.selected);
    if (n < 1 || n > this.channels.length) throw new ScpiError(-114, `SOURce${n}: the DP821 has sources 1 and 2`);
    return n;
  }

  private volts(ctx: CommandContext, i: number, channel: number): number {
    return ctx.number(i, { unit: 'V', min: 0, max: this.ratings[channel - 1].volts, def: 0 });
  }

  private amps(ctx: CommandContext, i: number, channel: number): number {
    const rated = this.ratings[channel - 1].amps;
    return ctx.number(i, { unit: 'A', min: 0, max: rated, def: rated });
  }

  private setLevels(channel: number, v: number | undefined, i: number | undefined): void {
    const c = this.state(channel);
    if (v !== undefined) c.vset = v;
    if (i !== undefined) c.iset = i;
    this.emitOutput(channel);
  }

  private defineCommands(): void {
    const fv = (v: number) => formatFixed(v, 3);
    const fi = (i: number) => formatFixed(i, 4);
    const rating = (ch: number) => `CH${ch}:${this.ratings[ch - 1].volts}V/${this.ratings[ch - 1].amps}A`;

    this.define('APPLy', {
      setArgs: [1, 3],
      set: (ctx) => {
        const hasCh = this.isChannelParam(ctx, 0);
        const ch = hasCh ? this.channelParam(ctx, 0) : this.selected;
        const first = hasCh ? 1 : 0;
        if (hasCh && ctx.params.length > 3) throw new ScpiError(-108, 'APPLy takes a channel, a voltage and a current');
        if (!hasCh && ctx.params.length > 2) throw new ScpiError(-108, 'APPLy takes a voltage and a current after an optional channel');
        // Validate both values before changing either, so a bad current leaves the voltage alone.
        const v = this.volts(ctx, first, ch);
        const i = ctx.has(first + 1) ? this.amps(ctx, first + 1, ch) : undefined;
        this.setLevels(ch, v, i);
      },
      queryArgs: [0, 2],
      query: (ctx) => {
        const hasCh = this.isChannelParam(ctx, 0);
        const ch = hasCh ? this.channelParam(ctx, 0) : this.selected;
        const c = this.state(ch);
        const whatIndex = hasCh ? 1 : 0;
        if (!ctx.has(whatIndex)) return `${rating(ch)},${fv(c.vset)},${fi(c.iset)}`;
        return ctx.keyword(whatIndex, ['VOLTage', 'CURRent'] as const) === 'VOLTage' ? fv(c.vset) : fi(c.iset);
      },
    });
    this.define('INSTrument[:SELect]', {
      setArgs: [1, 1],
      set: (ctx) => void (this.selected = this.channelParam(ctx, 0)),
      query: () => `CH${this.selected}`,
    });
    this.define('INSTrument:NSELect', {
      setArgs: [1, 1],
      set: (ctx) => void (this.selected = Math.round(ctx.number(0, { min: 1, max: this.channels.length }))),
      query: () => String(this.selected),
    });
    for (const [node, read, write] of [
      ['VOLTage', (c: ChannelState) => fv(c.vset), (ctx: CommandContext, ch: number) => this.setLevels(ch, this.volts(ctx, 0, ch), undefined)],
      ['CURRent', (c: ChannelState) => fi(c.iset), (ctx: CommandContext, ch: number) => this.setLevels(ch, undefined, this.amps(ctx, 0, ch))],
    ] as const) {
      this.define(`[SOURce<n>:]${node}[:LEVel][:IMMediate][:AMPLitude]`, {
        setArgs: [1, 1],
        set: (ctx) => write(ctx, this.sourceChannel(ctx)),
        queryArgs: [0, 1],
        query: (ctx) => {
          const ch = this.sourceChannel(ctx);
          if (!ctx.has(0)) return read(this.state(ch));
          const rated = node === 'VOLTage' ? this.ratings[ch - 1].volts : this.ratings[ch - 1].amps;
          const text = ctx.raw(0);
          if (mnemonicMatches('MINimum', text)) return node === 'VOLTage' ? fv(0) : fi(0);
          if (mnemonicMatches('MAXimum', text)) return node === 'VOLTage' ? fv(rated) : fi(rated);
          throw new ScpiError(-224, `${text} is not MIN or MAX`);
        },
      });
    }
    this.define('OUTPut[:STATe]', {
      setArgs: [1, 2],
      set: (ctx) => {
        const ch = ctx.params.length === 2 ? this.channelParam(ctx, 0) : this.selected;
        this.state(ch).enabled = ctx.bool(ctx.params.length - 1);
        this.emitOutput(ch);
      },
      queryArgs: [0, 1],
      query: (ctx) => (this.state(ctx.has(0) ? this.channelParam(ctx, 0) : this.selected).enabled ? 'ON' : 'OFF'),
    });
    this.define('OUTPut:MODE', {
      queryArgs: [0, 1],
      query: (ctx) => this.output(ctx.has(0) ? this.channelParam(ctx, 0) : this.selected).mode,
    });
    const measured = (ctx: CommandContext) => this.measure(ctx.has(0) ? this.channelParam(ctx, 0) : this.selected);
    this.define('MEASure[:VOLTage][:DC]', { queryArgs: [0, 1], query: (ctx) => formatFixed(measured(ctx).v, 4) });
    this.define('MEASure:CURRent[:DC]', { queryArgs: [0, 1], query: (ctx) => formatFixed(measured(ctx).i, 4) });
    this.define('MEASure:POWEr[:DC]', {
      queryArgs: [0, 1],
      query: (ctx) => {
        const m = measured(ctx);
        return formatFixed(m.v * m.i, 3);
      },
    });
    this.define('MEASure:ALL[:DC]', {
      queryArgs: [0, 1],
      query: (ctx) => {
        const m = measured(ctx);
        return `${formatFixed(m.v, 4)},${formatFixed(m.i, 4)},${formatFixed(m.v * m.i, 3)}`;
      },
    });
  }
}
