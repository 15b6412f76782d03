import { performance } from 'node:perf_hooks';
import type { OperationContext } from '../../device/device';
import type { OperationSpec } from '../../device/operations';
import { WorkcellError, showValue } from '../../errors/workcell-error';
import { ModbusTimeoutError } from '../../io/modbus/modbus-errors';
import type { ModbusRequestOptions } from '../../io/modbus/modbus-unit';
import { sleep } from '../../scope/cancel-scope';
import { describeError, isCancellation, type Cancellation } from '../../scope/reasons';
import { pollUntil } from '../modbus/poll-until';
import { ModbusDevice, type ModbusDeviceOptions } from '../modbus/modbus-device';
import { FurnaceRegisters, convertTemperature, type ControllerReading } from './furnace-registers';
import { FURNACE_OPERATIONS } from './operations';
import { furnacePreset, type FurnacePreset, type FurnaceRegisterMap, type TemperatureUnit } from './presets';

export interface FurnaceOptions extends ModbusDeviceOptions {
  /** A key of `FURNACE_PRESETS`; default `generic`. */
  preset?: string;
  /** Registers and scaling that differ from the preset's (the generic map's fields in the editor). */
  map?: Partial<FurnaceRegisterMap>;
  /** The unit of every temperature the device takes and gives. Default °C. */
  unit?: TemperatureUnit;
  /** Setpoint limits in `unit`. Default 0…1200 °C (converted when `unit` is °F). */
  minSetpoint?: number;
  maxSetpoint?: number;
  /** The fastest ramp allowed, `unit` per minute. Default 600. */
  maxRampRate?: number;
  /** The setpoint `safe()` writes, in `unit`. Default `minSetpoint`. */
  safeSetpoint?: number;
  /** Telemetry period (PV, setpoint, output), ms; 0 turns it off. Default 1000. */
  telemetryIntervalMs?: number;
  /** How often a ramp writes its next setpoint, ms. Default 1000. */
  rampStepMs?: number;
  /** How often `wait` reads the PV, ms. Default 500. */
  pollMs?: number;
  /** Each request's reply timeout, ms; default the bus's. */
  timeoutMs?: number;
}

/** A reading as operations and telemetry give it, in the device's unit. */
export interface FurnaceReading {
  pv: number | null;
  setpoint: number;
  output: number;
  unit: TemperatureUnit;
  sensorBreak: string | null;
}

/** PVs outside this range (°C) are not a furnace's: the preset or scaling is wrong. */
const PLAUSIBLE_C = { low: -300, high: 3000 };

const round = (v: number, places = 2) => Math.round(v * 10 ** places) / 10 ** places;

/**
 * A furnace temperature controller on a Modbus bus (Eurotherm 3216, Watlow EZ-ZONE PM, Omega
 * CN7500 or a generic map; see presets.ts), as a Workcell device. Temperatures are in the
 * device's `unit`, converted to and from the controller's (the Watlow's units register is read
 * at each session start).
 *
 * Session: `onSessionStart` reads the controller's units register (where the map has one) and
 * one reading (PV, setpoint, output, sensor state); an exception or a PV no furnace has
 * (outside −300…3000 °C) is a fault naming the preset ("does not answer as a Eurotherm 3216"),
 * and the check is made again every telemetry period (at least every second) until it passes.
 * Then telemetry starts.
 *
 * Operations (see `FURNACE_OPERATIONS`): setpoint, ramp, wait, read, run, stop, auto, manual.
 * Setpoints go to the register meant for frequent writes (the Eurotherm's comms setpoint 26,
 * enabled by 276 once per session, never its EEPROM TG.SP). Setpoints outside
 * `minSetpoint…maxSetpoint` and ramp rates above `maxRampRate` are refused before anything is
 * written.
 *
 * Stop (the cell's emergency stop, bus priority `'stop'`): the present working setpoint is read
 * and written as the setpoint, so the controller holds where it is, and any ramp ends (its
 * operation is rejected with the stop's reason; it writes nothing more).
 *
 * Safe: the safe setpoint, then the controller stopped as its preset can (`stopNote`: Omega
 * run/stop bit, Watlow loop mode Off, Eurotherm standby, generic run register), both at
 * priority `'stop'`.
 *
 * Telemetry: every `telemetryIntervalMs` after the previous read ended (bus priority
 * `'normal'`), PV, setpoint and output are read and emitted as `'telemetry'`
 * `{device, kind, time, pv, setpoint, output, unit}`; while ready the health detail shows them
 * (`PV 123.4 SP 200 °C 45%`: PV, setpoint, output). A sensor break is a fault (`status:
 * fault`, the Device's `'fault'` event, which trips the cell when the device is critical) for
 * as long as it lasts (`activeFault`); once the sensor reads again the device is ready. A
 * failed read is a `'warning'` (once while the same failure lasts); a read the unit did not
 * answer in time also makes a ready device a fault (`no reading: …`) until a read succeeds
 * again, so a controller that stopped answering shows.
 */
export class FurnaceDevice extends ModbusDevice {
  readonly kind = 'furnace';
  readonly operations = FURNACE_OPERATIONS;
  readonly preset: FurnacePreset;
  readonly map: FurnaceRegisterMap;
  readonly temperatureUnit: TemperatureUnit;
  readonly minSetpoint: number;
  readonly maxSetpoint: number;
  readonly maxRampRate: number;
  readonly safeSetpoint: number;
  readonly telemetryIntervalMs: number;
  readonly rampStepMs: number;
  readonly pollMs: number;
  private readonly timeoutMs: number | undefined;
  private readonly registers: FurnaceRegisters;
  private telemetryTimer: NodeJS.Timeout | undefined;
  /** Ends the session's telemetry and checks. */
  private sessionAbort: AbortController | undefined;
  private sensorFault: string | null = null;
  /** Why telemetry got no reading (the unit stopped answering), while that lasts. */
  private readFault: string | null = null;
  /** The last telemetry failure warned about, so a lasting one is warned about once. */
  private lastTelemetryFailure: string | undefined;
  private lastReading: FurnaceReading | undefined;

  /** Checks the options (a RangeError naming the bad one); connects on `open()`. */
  constructor(options: FurnaceOptions) {
    super(options);
    this.preset = furnacePreset(options.preset);
    this.map = { ...this.preset.map, ...stripUndefined(options.map ?? {}) };
    this.temperatureUnit = options.unit ?? 'C';
    if (this.temperatureUnit !== 'C' && this.temperatureUnit !== 'F') throw new RangeError(`${this.name}: the unit must be C or F, got ${showValue(options.unit)}`);
    const inUnit = (c: number) => round(convertTemperature(c, 'C', this.temperatureUnit));
    this.minSetpoint = options.minSetpoint ?? inUnit(0);
    this.maxSetpoint = options.maxSetpoint ?? inUnit(1200);
    this.maxRampRate = options.maxRampRate ?? 600;
    this.safeSetpoint = options.safeSetpoint ?? this.minSetpoint;
    this.telemetryIntervalMs = options.telemetryIntervalMs ?? 1000;
    this.rampStepMs = options.rampStepMs ?? 1000;
    this.pollMs = options.pollMs ?? 500;
    this.timeoutMs = options.timeoutMs;
    const finite = (what: string, v: number) => {
      if (!Number.isFinite(v)) throw new RangeError(`${this.name}: the ${what} must be a number, got ${showValue(v)}`);
    };
    finite('lowest setpoint', this.minSetpoint);
    finite('highest setpoint', this.maxSetpoint);
    finite('safe setpoint', this.safeSetpoint);
    if (!(this.minSetpoint < this.maxSetpoint)) throw new RangeError(`${this.name}: the lowest setpoint (${this.minSetpoint}) must be below the highest (${this.maxSetpoint})`);
    if (this.safeSetpoint < this.minSetpoint || this.safeSetpoint > this.maxSetpoint) {
      throw new RangeError(`${this.name}: the safe setpoint ${this.safeSetpoint} is outside the setpoint limits ${this.minSetpoint}…${this.maxSetpoint} °${this.temperatureUnit}`);
    }
    if (!(this.maxRampRate > 0)) throw new RangeError(`${this.name}: the fastest ramp rate must be more than 0, got ${showValue(options.maxRampRate)}`);
    for (const [what, v] of [['telemetry interval', this.telemetryIntervalMs], ['ramp step', this.rampStepMs], ['poll interval', this.pollMs]] as const) {
      if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${this.name}: the ${what} must be 0 or more ms, got ${showValue(v)}`);
    }
    if (this.rampStepMs === 0 || this.pollMs === 0) throw new RangeError(`${this.name}: the ramp step and the poll interval must be more than 0 ms`);
    this.registers = new FurnaceRegisters(this.unit, this.map);
  }

  /** The last reading (from telemetry or an operation), or undefined before the first. */
  get reading(): FurnaceReading | undefined {
    return this.lastReading;
  }

  private get unitText(): string {
    return `°${this.temperatureUnit}`;
  }

  private requestOptions(signal: AbortSignal | undefined, priority: 'stop' | 'normal' = 'normal'): ModbusRequestOptions {
    return { signal, priority, timeoutMs: this.timeoutMs };
  }

  /** The controller's value in the device's unit, and back. */
  private fromController(v: number): number {
    return convertTemperature(v, this.registers.unit, this.temperatureUnit);
  }

  private toController(v: number): number {
    return convertTemperature(v, this.temperatureUnit, this.registers.unit);
  }

  // ----- session -----

  protected async onSessionStart(): Promise<void> {
    this.onSessionEnd('new session');
    const abort = new AbortController();
    this.sessionAbort = abort;
    try {
      await this.checkUnit(abort.signal);
    } catch (err) {
      if (!abort.signal.aborted) this.scheduleRecheck(abort.signal);
      throw err;
    }
    this.scheduleTelemetry(abort.signal);
  }

  /** The session's check: the units register, then one reading with a PV a furnace can have. */
  private async checkUnit(signal: AbortSignal): Promise<void> {
    const options = this.requestOptions(signal);
    let reading: FurnaceReading;
    try {
      await this.registers.startSession(options);
      reading = await this.readNow(options);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new WorkcellError('unit-check', `${this.name}: unit ${this.unit.unitId} does not answer as a ${this.preset.label}: ${describeError(err)}`, { subject: this.name, operation: 'connect', cause: err });
    }
    const pvC = reading.pv === null ? null : convertTemperature(reading.pv, this.temperatureUnit, 'C');
    if (pvC !== null && (pvC < PLAUSIBLE_C.low || pvC > PLAUSIBLE_C.high)) {
      throw new WorkcellError(
        'unit-check',
        `${this.name}: unit ${this.unit.unitId} answers, but its PV reads ${round(reading.pv!)} ${this.unitText}, which no furnace has: check the preset (${this.preset.label}) and its scaling`,
        { subject: this.name, operation: 'connect', value: reading.pv },
      );
    }
    this.noteSensor(reading.sensorBreak);
  }

  /**
   * A session whose check failed checks again every telemetry period (at least every second)
   * while the bus stays up: a controller powered on later, or set right, makes the device
   * ready without a reconnect of the whole bus.
   */
  private scheduleRecheck(signal: AbortSignal): void {
    this.telemetryTimer = setTimeout(() => {
      this.checkUnit(signal).then(
        () => {
          if (signal.aborted) return;
          if (this.status === 'fault' && !this.sensorFault) this.setStatus('ready', this.lastReading ? this.describe(this.lastReading) : '');
          this.scheduleTelemetry(signal);
        },
        (err: unknown) => {
          if (signal.aborted) return;
          if (this.status === 'fault' && !this.sensorFault) this.setStatus('fault', describeError(err));
          this.scheduleRecheck(signal);
        },
      );
    }, Math.max(this.telemetryIntervalMs, 1000));
  }

  protected onSessionEnd(_reason: string): void {
    this.registers.endSession();
    clearTimeout(this.telemetryTimer);
    this.telemetryTimer = undefined;
    this.sessionAbort?.abort();
    this.sessionAbort = undefined;
  }

  private scheduleTelemetry(signal: AbortSignal): void {
    if (this.telemetryIntervalMs <= 0) return;
    this.telemetryTimer = setTimeout(() => {
      void this.readNow(this.requestOptions(signal)).then(
        (reading) => {
          if (signal.aborted) return;
          this.telemetry({ pv: reading.pv, setpoint: reading.setpoint, output: reading.output, unit: reading.unit });
          this.lastTelemetryFailure = undefined;
          if (this.readFault) {
            this.readFault = null;
            if (this.status === 'fault' && !this.sensorFault) this.setStatus('ready', this.describe(reading));
          }
          this.noteSensor(reading.sensorBreak);
        },
        (err: unknown) => {
          if (signal.aborted || isCancellation(err)) return;
          const why = `no reading: ${describeError(err)}`;
          // Once per failure, not once per period: a silent unit would flood the log.
          if (why !== this.lastTelemetryFailure) this.emit('warning', `${this.name}: telemetry read failed: ${describeError(err)}`);
          this.lastTelemetryFailure = why;
          if (err instanceof ModbusTimeoutError && !this.sensorFault && (this.status === 'ready' || this.readFault)) {
            this.readFault = why;
            this.setStatus('fault', why);
          }
        },
      ).finally(() => {
        if (!signal.aborted) this.scheduleTelemetry(signal);
      });
    }, this.telemetryIntervalMs);
  }

  /** One reading, in the device's unit; remembered, and shown while the device is ready. */
  private async readNow(options: ModbusRequestOptions): Promise<FurnaceReading> {
    const raw: ControllerReading = await this.registers.read(options);
    const reading: FurnaceReading = {
      pv: raw.pv === null ? null : round(this.fromController(raw.pv)),
      setpoint: round(this.fromController(raw.setpoint)),
      output: round(raw.output),
      unit: this.temperatureUnit,
      sensorBreak: raw.sensorBreak,
    };
    this.lastReading = reading;
    if (this.status === 'ready' && !this.sensorFault) this.setStatus('ready', this.describe(reading));
    return reading;
  }

  private describe(r: FurnaceReading): string {
    // Short enough for a node status (32 characters with "ready: ") up to 4-digit temperatures.
    return `PV ${r.pv === null ? '—' : r.pv.toFixed(1)} SP ${r.setpoint} ${this.unitText} ${r.output.toFixed(0)}%`;
  }

  /** A sensor break is a fault while it lasts; mended, the device is ready again. */
  private noteSensor(sensorBreak: string | null): void {
    if (sensorBreak) {
      if (this.sensorFault !== sensorBreak || this.status !== 'fault') {
        this.sensorFault = sensorBreak;
        this.setStatus('fault', sensorBreak);
      }
    } else if (this.sensorFault) {
      this.sensorFault = null;
      if (this.status === 'fault') this.setStatus('ready', this.lastReading ? this.describe(this.lastReading) : '');
    }
  }

  override activeFault(): string | null {
    return this.sensorFault;
  }

  // ----- operations -----

  protected override checkLimits(op: OperationSpec, params: Record<string, unknown>): void {
    const range = `${this.minSetpoint}…${this.maxSetpoint} ${this.unitText}`;
    const setpoint = (what: string, v: unknown) => {
      if (typeof v === 'number' && (v < this.minSetpoint || v > this.maxSetpoint)) throw this.limitError(op, what, v, range);
    };
    if (op.name === 'setpoint') setpoint('setpoint', params.value);
    if (op.name === 'ramp') {
      setpoint('target', params.to);
      const rate = params.rate as number;
      if (rate > this.maxRampRate) throw this.limitError(op, 'ramp rate', rate, `of ${this.maxRampRate} ${this.unitText}/min`);
    }
  }

  protected async runOperation(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    const options = this.requestOptions(ctx.signal);
    switch (op.name) {
      case 'setpoint': {
        const value = params.value as number;
        await this.registers.writeSetpoint(this.toController(value), options);
        return { setpoint: value, unit: this.temperatureUnit };
      }
      case 'ramp':
        return await this.ramp(params.to as number, params.rate as number, ctx);
      case 'wait':
        return await this.waitStable(params, ctx);
      case 'read': {
        const { sensorBreak: _, ...reading } = await this.readNow(options);
        return reading;
      }
      case 'run':
      case 'stop':
        await this.registers.setRunning(op.name === 'run', options);
        return { running: op.name === 'run' };
      case 'auto':
        await this.registers.setMode(false, undefined, options);
        return { mode: 'auto' };
      case 'manual':
        await this.registers.setMode(true, params.output as number, options);
        return { mode: 'manual', output: params.output };
      default:
        throw new WorkcellError('unknown-operation', `${this.name}: operation ${op.name} is not implemented`, { subject: this.name, operation: op.name });
    }
  }

  /** The PV now, or a sentence when the sensor is broken. */
  private async pvNow(operation: string, options: ModbusRequestOptions): Promise<FurnaceReading & { pv: number }> {
    const reading = await this.readNow(options);
    this.noteSensor(reading.sensorBreak);
    if (reading.pv === null) {
      throw new WorkcellError('sensor-break', `${this.name}: ${operation}: the controller reports a ${reading.sensorBreak}`, { subject: this.name, operation });
    }
    return reading as FurnaceReading & { pv: number };
  }

  /**
   * The ramp: from the PV now to `to` at `rate` per minute, one setpoint written every
   * `rampStepMs` (the step's value from the time since the start, so a slow bus does not slow the
   * ramp), the last one exactly `to`.
   */
  private async ramp(to: number, rate: number, ctx: OperationContext): Promise<unknown> {
    const { signal } = ctx;
    const options = this.requestOptions(signal);
    const from = (await this.pvNow('ramp', options)).pv;
    const span = to - from;
    const durationMs = (Math.abs(span) / rate) * 60_000;
    const started = performance.now();
    for (;;) {
      const elapsed = performance.now() - started;
      const done = elapsed >= durationMs;
      const setpoint = done ? to : round(from + Math.sign(span) * (rate / 60_000) * elapsed);
      await this.registers.writeSetpoint(this.toController(setpoint), options);
      ctx.onProgress?.({ fraction: span === 0 ? 1 : Math.min(1, (setpoint - from) / span), text: `ramp: SP ${setpoint} ${this.unitText} → ${to} ${this.unitText}` });
      if (done) return { setpoint: to, unit: this.temperatureUnit };
      await sleep(Math.min(this.rampStepMs, durationMs - elapsed), signal);
    }
  }

  /** Wait until |PV − target| ≤ band has held for `dwell` s; fail after `timeout` s. */
  private async waitStable(params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    const { signal } = ctx;
    const options = this.requestOptions(signal);
    const band = params.band as number;
    const dwellMs = (params.dwell as number) * 1000;
    const started = performance.now();
    let heldSince: number | undefined;
    let held = 0;
    const targetOf = (r: FurnaceReading) => (params.target as number | undefined) ?? r.setpoint;
    const { value, met } = await pollUntil(
      () => this.pvNow('wait', options),
      () => heldSince !== undefined && held >= dwellMs,
      { periodMs: this.pollMs, timeoutMs: (params.timeout as number) * 1000, signal },
      (r) => {
        const now = performance.now();
        if (Math.abs(r.pv - targetOf(r)) <= band) heldSince ??= now;
        else heldSince = undefined;
        held = heldSince === undefined ? 0 : now - heldSince;
        ctx.onProgress?.({
          fraction: dwellMs > 0 ? Math.min(1, held / dwellMs) : undefined,
          text: `PV ${r.pv} ${this.unitText}${heldSince === undefined ? ` (target ${targetOf(r)} ±${band})` : `, held ${(held / 1000).toFixed(0)}/${params.dwell} s`}`,
        });
      },
    );
    const target = targetOf(value);
    if (!met) {
      throw new WorkcellError(
        'timeout',
        `${this.name}: wait: the PV did not hold within ±${band} ${this.unitText} of ${target} ${this.unitText} for ${params.dwell} s within ${params.timeout} s (PV ${value.pv} ${this.unitText})`,
        { subject: this.name, operation: 'wait', value: value.pv },
      );
    }
    return { pv: value.pv, setpoint: target, unit: this.temperatureUnit, waitedS: round((performance.now() - started) / 1000, 1) };
  }

  // ----- stop and safe -----

  /**
   * Hold where the furnace is: read the working setpoint and write it as the setpoint, both
   * past anything queued on the bus (priority `'stop'`). Rejects with a sentence when the
   * controller cannot be reached.
   */
  protected sendStop(_reason: Cancellation): Promise<void> {
    const options = this.requestOptions(undefined, 'stop');
    return (async () => {
      const working = await this.registers.readWorkingSetpoint(options);
      await this.registers.writeSetpoint(working, options);
    })().catch((err: unknown) => {
      throw new WorkcellError('stop-failed', `${this.name}: stop: could not hold the present setpoint: ${describeError(err)}`, { subject: this.name, operation: 'stop', cause: err });
    });
  }

  /** The safe setpoint, then the controller stopped (`preset.stopNote`), at priority `'stop'`, bounded by `signal`. */
  async safe(signal: AbortSignal): Promise<void> {
    const options = this.requestOptions(signal, 'stop');
    try {
      await this.registers.writeSetpoint(this.toController(this.safeSetpoint), options);
      await this.registers.setRunning(false, options);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new WorkcellError('safe-failed', `${this.name}: safe: could not write the safe setpoint ${this.safeSetpoint} ${this.unitText} and stop the controller (${this.preset.stopNote}): ${describeError(err)}`, {
        subject: this.name,
        operation: 'safe',
        cause: err,
      });
    }
  }

  /** Reads the sensor again before clearing: a sensor break still there stays a fault. */
  override async reset(signal: AbortSignal): Promise<void> {
    if (this.status !== 'disconnected' && this.status !== 'connecting') {
      try {
        const reading = await this.readNow(this.requestOptions(signal));
        this.noteSensor(reading.sensorBreak);
      } catch {
        // The reset of the base clears what it can; the next telemetry read tells the rest.
      }
    }
    await super.reset(signal);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
