import type { OperationContext } from '../../device/device';
import type { OperationSpec } from '../../device/operations';
import { WorkcellError, showValue } from '../../errors/workcell-error';
import type { ModbusPriority, ModbusRequestOptions } from '../../io/modbus/modbus-unit';
import { describeError, type Cancellation } from '../../scope/reasons';
import { ModbusDevice, type ModbusDeviceOptions } from '../modbus/modbus-device';
import { deviceError } from '../modbus/bus-error';
import { pollUntil } from '../modbus/poll-until';
import { PRESS_OPERATIONS } from './operations';
import { addressSpan } from '../modbus/address-span';
import { resolvePressMap, type PressMap, type PressMapOverrides } from './press-map';

/** The interlock inputs a press can enforce. */
export type PressInterlock = 'guard' | 'lightCurtain' | 'twoHand';
export const PRESS_INTERLOCKS: readonly PressInterlock[] = ['guard', 'lightCurtain', 'twoHand'];

/** Limits checked before anything is written. */
export interface PressLimits {
  maxForceKn: number;
  maxCurrentKa: number;
  maxWeldTimeMs: number;
  minPositionMm: number;
  maxPositionMm: number;
}

export interface PressDeviceOptions extends ModbusDeviceOptions {
  /** The PLC's map, in part: each group's fields replace `DEFAULT_PRESS_MAP`'s. */
  map?: PressMapOverrides;
  /** Default: 400 kN, 25 kA, 2000 ms, position 0–150 mm. */
  limits?: Partial<PressLimits>;
  /** Interlocks checked before a cycle and watched during it. Default all three. */
  interlocks?: readonly PressInterlock[];
  /** What the PLC's fault codes mean, for messages. Default the simulator's PLC program's. */
  faultTexts?: Readonly<Record<number, string>>;
  /** How often the inputs are read during a cycle (and while an interlock holds a fault), ms. Default 20. */
  watchIntervalMs?: number;
  /** Default time a cycle may take, ms. Default 30000. */
  cycleTimeoutMs?: number;
  /** Time the ram may take to reach the top on retract and in `safe`, ms. Default 10000. */
  retractTimeoutMs?: number;
  /** Each request's reply timeout, ms; default the bus's. */
  requestTimeoutMs?: number;
  /** Telemetry period, ms; 0 (default) turns it off. */
  telemetryIntervalMs?: number;
}

/** The fault codes of the press PLC simulator's program. */
export const DEFAULT_PRESS_FAULT_TEXTS: Readonly<Record<number, string>> = {
  1: 'guard opened',
  2: 'light curtain broken',
  3: 'two-hand start released',
  4: 'overload',
  5: 'stroke end reached before the force',
};

/** What one read of the PLC's inputs and input registers says, in engineering units. */
export interface PressSnapshot {
  cycleDone: boolean;
  ramAtTop: boolean;
  fault: boolean;
  interlocks: Record<PressInterlock, boolean>;
  position: number;
  force: number;
  weldCurrent: number;
  state: number;
  faultCode: number;
  /** The PLC's record of the cycle running or last run. */
  peakForce: number;
  bottomPosition: number;
}

const INTERLOCK_INPUT = { guard: 'guardClosed', lightCurtain: 'lightCurtainClear', twoHand: 'twoHandStart' } as const;
/** An open interlock as sentences say it: what it is, and how it is open. */
const INTERLOCK_WORDS: Readonly<Record<PressInterlock, { name: string; open: string; opened: string }>> = {
  guard: { name: 'the guard', open: 'is open', opened: 'opened' },
  lightCurtain: { name: 'the light curtain', open: 'is broken', opened: 'was broken' },
  twoHand: { name: 'the two-hand start', open: 'is released', opened: 'was released' },
};

/**
 * A hydraulic press or spot welder run by a PLC on a Modbus bus (`PressDeviceOptions.map`: its
 * coils, inputs and registers, by default the press PLC simulator's).
 *
 * Operations (`PRESS_OPERATIONS`): cycle, weld, retract, read, reset. Limits (maximum force,
 * current and weld time, the position range) are checked before anything is written. A cycle
 * or weld first reads the PLC and is refused, with nothing written, while an enforced interlock
 * is open (naming it and its input), while the PLC reports a fault, or with the ram away from
 * the top. It then writes the setpoints and the cycle start and reads the inputs every
 * `watchIntervalMs` until cycle done. A force read above the maximum force (a cycle to a
 * position can press harder than intended) stops the cycle with the stop coil and fails it
 * naming both. An interlock that opens stops the cycle (the stop coil,
 * at stop priority), fails the operation naming the interlock, and puts the device in fault,
 * which trips the cell when the device is critical. A PLC fault or the cycle timeout stops the
 * cycle too. A cycle is done when cycle done reads set after it read clear (the PLC clears it
 * when it accepts the start), so a cycle done left from the cycle before is never taken for it.
 *
 * While a fault from an interlock lasts (across reconnects too), the inputs are read every
 * `watchIntervalMs` and `activeFault()` names the interlock still open (so a cell's reset is
 * refused) until they read closed. `reset` (the operation, or the cell's reset) writes the PLC's
 * fault reset coil.
 *
 * Stop: the PLC's stop coil, at stop priority. A cancelled cycle, weld or retract writes it too.
 * Safe: weld enable off and weld current 0, then retract, confirmed by the ram-at-top input
 * within `retractTimeoutMs`.
 */
export class PressDevice extends ModbusDevice {
  readonly kind = 'press';
  readonly operations = PRESS_OPERATIONS;
  readonly map: PressMap;
  readonly limits: PressLimits;
  readonly interlocks: readonly PressInterlock[];
  readonly faultTexts: Readonly<Record<number, string>>;
  readonly watchIntervalMs: number;
  readonly cycleTimeoutMs: number;
  readonly retractTimeoutMs: number;
  readonly telemetryIntervalMs: number;
  private readonly requestTimeoutMs: number | undefined;
  private readonly inputSpan: { start: number; count: number };
  private readonly registerSpan: { start: number; count: number };
  /** The last snapshot read, and the interlock fault it holds the device in (null: none). */
  private last: PressSnapshot | undefined;
  private interlockFault: string | null = null;
  private faultWatch: AbortController | undefined;
  private telemetryTimer: NodeJS.Timeout | undefined;

  /** Checks the options (a RangeError names the device, the setting and the value). */
  constructor(options: PressDeviceOptions) {
    super(options);
    const name = options.name;
    this.map = resolvePressMap(name, options.map);
    this.limits = { maxForceKn: 400, maxCurrentKa: 25, maxWeldTimeMs: 2000, minPositionMm: 0, maxPositionMm: 150, ...options.limits };
    for (const [key, value] of Object.entries(this.limits)) {
      if (!(typeof value === 'number' && Number.isFinite(value) && value >= 0)) throw new RangeError(`${name}: the limit ${key} must be a number, 0 or more, got ${showValue(value)}`);
    }
    if (this.limits.minPositionMm > this.limits.maxPositionMm) throw new RangeError(`${name}: the position range ${this.limits.minPositionMm}–${this.limits.maxPositionMm} mm is empty`);
    this.interlocks = [...new Set(options.interlocks ?? PRESS_INTERLOCKS)];
    for (const i of this.interlocks) {
      if (!PRESS_INTERLOCKS.includes(i)) throw new RangeError(`${name}: unknown interlock ${showValue(i)}; expected guard, lightCurtain or twoHand`);
    }
    this.faultTexts = options.faultTexts ?? DEFAULT_PRESS_FAULT_TEXTS;
    this.watchIntervalMs = options.watchIntervalMs ?? 20;
    this.cycleTimeoutMs = options.cycleTimeoutMs ?? 30_000;
    this.retractTimeoutMs = options.retractTimeoutMs ?? 10_000;
    this.telemetryIntervalMs = options.telemetryIntervalMs ?? 0;
    this.requestTimeoutMs = options.requestTimeoutMs;
    const periods = [['watch interval', this.watchIntervalMs, 5], ['cycle timeout', this.cycleTimeoutMs, 1], ['retract timeout', this.retractTimeoutMs, 1]] as const;
    for (const [what, value, min] of periods) {
      if (!(Number.isFinite(value) && value >= min && value <= 3_600_000)) throw new RangeError(`${name}: the ${what} must be ${min} ms to 1 h, got ${showValue(value)}`);
    }
    if (!(this.telemetryIntervalMs === 0 || (this.telemetryIntervalMs >= 20 && this.telemetryIntervalMs <= 3_600_000))) {
      throw new RangeError(`${name}: the telemetry interval must be 0 (off) or 20 ms to 1 h, got ${showValue(this.telemetryIntervalMs)}`);
    }
    const spans = [addressSpan(Object.values(this.map.inputs)), addressSpan(Object.values(this.map.inputRegisters))];
    if (spans[0].count > 2000) throw new RangeError(`${name}: the map's discrete inputs span ${spans[0].count} addresses; one read takes at most 2000`);
    if (spans[1].count > 125) throw new RangeError(`${name}: the map's input registers span ${spans[1].count} addresses; one read takes at most 125`);
    [this.inputSpan, this.registerSpan] = spans;
  }

  /** The last snapshot read from the PLC (undefined before the first). */
  get snapshot(): PressSnapshot | undefined {
    return this.last;
  }

  /** While an interlock fault lasts: the enforced interlock the last read found open, named with its input. */
  override activeFault(): string | null {
    if (!this.interlockFault) return null;
    const open = this.last && this.openInterlock(this.last);
    return open ? `${this.describeOpen(open)}` : null;
  }

  // ----- session -----

  protected async onSessionStart(): Promise<void> {
    try {
      await this.read('normal');
    } catch (err) {
      throw new WorkcellError('unit-check', `${this.name}: unit ${this.unit.unitId} does not answer as the press PLC its map describes: ${describeError(err)}`, { subject: this.name, operation: 'connect', cause: err });
    }
    if (this.telemetryIntervalMs > 0) this.scheduleTelemetry();
    if (this.interlockFault) {
      // A reconnect does not clear an interlock fault: only a reset once the interlocks are closed does.
      this.setStatus('fault', this.interlockFault);
      this.watchFault();
    }
  }

  protected onSessionEnd(_reason: string): void {
    this.faultWatch?.abort();
    this.faultWatch = undefined;
    clearTimeout(this.telemetryTimer);
    this.telemetryTimer = undefined;
  }

  // ----- the device contract -----

  protected override checkLimits(op: OperationSpec, params: Record<string, unknown>): void {
    const l = this.limits;
    const force = params.force as number | undefined;
    if ((op.name === 'cycle' && params.target === 'force') || op.name === 'weld') {
      if (force !== undefined && force > l.maxForceKn) throw this.limitError(op, 'force', force, `of ${l.maxForceKn} kN`);
    }
    if (op.name === 'cycle' && params.target === 'position') {
      const position = params.position as number;
      if (position < l.minPositionMm || position > l.maxPositionMm) throw this.limitError(op, 'position', position, `${l.minPositionMm}–${l.maxPositionMm} mm`);
    }
    if (op.name === 'weld') {
      if ((params.current as number) > l.maxCurrentKa) throw this.limitError(op, 'weld current', params.current, `of ${l.maxCurrentKa} kA`);
      if ((params.timeMs as number) > l.maxWeldTimeMs) throw this.limitError(op, 'weld time', params.timeMs, `of ${l.maxWeldTimeMs} ms`);
    }
    for (const [key, scale] of [['force', this.map.scaling.forceKn], ['position', this.map.scaling.positionMm], ['current', this.map.scaling.currentKa]] as const) {
      const value = params[key];
      if (typeof value === 'number' && Math.round(value / scale) > 0xffff) throw this.limitError(op, key, value, `of one register (${0xffff * scale} at ${scale} per count)`);
    }
  }

  protected async runOperation(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    switch (op.name) {
      case 'read':
        return this.reading(await this.read('normal', ctx.signal));
      case 'cycle':
      case 'weld':
        return this.runCycle(op, params, ctx);
      case 'retract': {
        const s = await this.retract(op.name, (params.timeoutMs as number | undefined) ?? this.retractTimeoutMs, ctx.signal, 'normal');
        return { position: s.position };
      }
      case 'reset': {
        const s = await this.read('normal', ctx.signal);
        const open = this.openInterlock(s);
        if (open) throw this.refusal(op.name, `${this.describeOpen(open)}: close it first`);
        await this.unit.writeCoil(this.map.coils.faultReset, true, this.req('normal', ctx.signal));
        const after = await this.read('normal', ctx.signal);
        if (after.fault) throw this.failure(op.name, `the PLC kept its fault (${this.faultText(after.faultCode)}) after the fault reset`);
        this.interlockFault = null;
        await super.reset(ctx.signal);
        return { faultCode: after.faultCode };
      }
      default:
        throw new WorkcellError('unknown-operation', `${this.name}: operation ${op.name} is not implemented`, { subject: this.name, operation: op.name });
    }
  }

  /** The PLC's stop coil, ahead of everything queued on the bus. */
  protected sendStop(_reason: Cancellation): Promise<void> {
    return this.unit.writeCoil(this.map.coils.stop, true, this.req('stop'));
  }

  protected override onOperationAborted(op: OperationSpec): void {
    if (op.name === 'cycle' || op.name === 'weld' || op.name === 'retract') {
      this.unit.writeCoil(this.map.coils.stop, true, this.req('stop')).catch((err: unknown) => this.emit('warning', `${this.name}: ${op.name}: the stop after the cancel failed: ${errorText(err)}`));
    }
  }

  /** Weld enable off and weld current 0, then the ram to the top, confirmed by its input. */
  async safe(signal: AbortSignal): Promise<void> {
    try {
      const off = [
        this.unit.writeCoil(this.map.coils.weldEnable, false, this.req('stop')),
        this.unit.writeRegister(this.map.holding.weldCurrent, 0, this.req('stop')),
      ];
      await Promise.all(off);
      await this.retract('safe', this.retractTimeoutMs, signal, 'stop');
    } catch (err) {
      throw deviceError(this.name, 'safe', err, signal);
    }
  }

  /** Writes the PLC's fault reset coil, then clears the device's fault (refused by the cell while an interlock is open). */
  override async reset(signal: AbortSignal): Promise<void> {
    await this.unit.writeCoil(this.map.coils.faultReset, true, this.req('normal', signal));
    this.interlockFault = null;
    this.faultWatch?.abort();
    await super.reset(signal);
  }

  // ----- cycles -----

  private async runCycle(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    const { signal } = ctx;
    const welding = op.name === 'weld';
    const target = welding ? 'force' : (params.target as 'force' | 'position');
    const before = await this.read('normal', signal);
    const open = this.openInterlock(before);
    if (open) throw this.refusal(op.name, `${this.describeOpen(open)}`);
    if (before.fault) throw this.refusal(op.name, `the PLC reports a fault (${this.faultText(before.faultCode)}): reset it first`);
    if (!before.ramAtTop) throw this.refusal(op.name, `the ram is not at the top (input ${this.map.inputs.ramAtTop} reads open, ram at ${before.position} mm): retract it first`);

    const { holding, scaling, coils, modes } = this.map;
    const registers: [number, number][] = [
      [holding.mode, target === 'force' ? modes.force : modes.position],
      target === 'force' ? [holding.targetForce, Math.round((params.force as number) / scaling.forceKn)] : [holding.targetPosition, Math.round((params.position as number) / scaling.positionMm)],
      [holding.holdTime, params.holdMs as number],
    ];
    if (welding) registers.push([holding.weldCurrent, Math.round((params.current as number) / scaling.currentKa)], [holding.weldTime, params.timeMs as number]);
    const started = performance.now();
    let peakCurrent = 0;
    let latest = before;
    try {
      await this.writeRegisterSet(registers, signal);
      await this.unit.writeCoil(coils.weldEnable, welding, this.req('normal', signal));
      await this.unit.writeCoil(coils.cycleStart, true, this.req('normal', signal));
      let running = !before.cycleDone;
      let problem: string | undefined;
      const watched = await pollUntil(
        () => this.read('normal'),
        (s) => {
          const openNow = this.openInterlock(s);
          if (openNow) problem = `${INTERLOCK_WORDS[openNow].name} ${INTERLOCK_WORDS[openNow].opened} mid-cycle (input ${this.map.inputs[INTERLOCK_INPUT[openNow]]})`;
          else if (s.fault) problem = `the PLC stopped the cycle with a fault (${this.faultText(s.faultCode)})`;
          else if (s.force > this.limits.maxForceKn) problem = `the force reached ${round(s.force)} kN, above the limit of ${this.limits.maxForceKn} kN`;
          if (problem) return true;
          if (!s.cycleDone) running = true;
          return running && s.cycleDone;
        },
        { periodMs: this.watchIntervalMs, timeoutMs: (params.timeoutMs as number | undefined) ?? this.cycleTimeoutMs, signal },
        (s) => {
          latest = s;
          peakCurrent = Math.max(peakCurrent, s.weldCurrent);
          const goal = target === 'force' ? (params.force as number) : (params.position as number);
          const now = target === 'force' ? s.force : s.position;
          ctx.onProgress?.({ fraction: goal > 0 ? Math.min(1, now / goal) : undefined, text: `${op.name}: ${round(s.position)} mm, ${round(s.force)} kN${welding && s.weldCurrent > 0 ? `, ${round(s.weldCurrent)} kA` : ''}` });
        },
      );
      if (problem) {
        const stopped = this.unit.writeCoil(coils.stop, true, this.req('stop'));
        const openNow = this.openInterlock(watched.value);
        const why = `${op.name}: ${problem}; the cycle was stopped`;
        if (openNow) {
          this.interlockFault = why;
          this.setStatus('fault', why);
          this.watchFault();
        }
        await stopped.catch(() => undefined);
        throw new WorkcellError(openNow ? 'interlock' : 'device-fault', `${this.name}: ${why}`, { subject: this.name, operation: op.name, value: watched.value.faultCode });
      }
      if (!watched.met) {
        await this.unit.writeCoil(coils.stop, true, this.req('stop')).catch(() => undefined);
        const s = watched.value;
        throw this.failure(op.name, `the cycle did not finish within ${(params.timeoutMs as number | undefined) ?? this.cycleTimeoutMs} ms (ram at ${round(s.position)} mm, force ${round(s.force)} kN, cycle done ${s.cycleDone ? 'set' : 'clear'}); the cycle was stopped`);
      }
    } finally {
      // However the weld ends, weld enable does not stay on.
      if (welding) await this.unit.writeCoil(coils.weldEnable, false, this.req('stop')).catch(() => undefined);
    }
    const cycleMs = Math.round(performance.now() - started);
    if (welding) return { force: params.force, current: params.current, timeMs: params.timeMs, weldCurrent: round(peakCurrent), cycleMs };
    return { target, force: round(latest.peakForce), position: round(latest.bottomPosition), holdMs: params.holdMs, cycleMs };
  }

  /** Retract and wait for the ram-at-top input; fails naming the input. */
  private async retract(operation: string, timeoutMs: number, signal: AbortSignal, priority: ModbusPriority): Promise<PressSnapshot> {
    await this.unit.writeCoil(this.map.coils.retract, true, this.req(priority));
    const { value, met } = await pollUntil(() => this.read(priority), (s) => s.ramAtTop, { periodMs: this.watchIntervalMs, timeoutMs, signal });
    if (!met) throw this.failure(operation, `the ram did not reach the top (input ${this.map.inputs.ramAtTop}) within ${timeoutMs} ms (ram at ${round(value.position)} mm)`);
    return value;
  }

  /** While an interlock fault lasts, read the inputs so `activeFault` follows them; ends once all read closed. */
  private watchFault(): void {
    if (this.faultWatch) return;
    const watch = (this.faultWatch = new AbortController());
    pollUntil(() => this.read('normal'), (s) => !this.openInterlock(s), { periodMs: this.watchIntervalMs, timeoutMs: Infinity, signal: watch.signal })
      .catch(() => undefined)
      .finally(() => {
        if (this.faultWatch === watch) this.faultWatch = undefined;
      });
  }

  private scheduleTelemetry(): void {
    clearTimeout(this.telemetryTimer);
    this.telemetryTimer = setTimeout(() => {
      this.read('normal').then(
        (s) => this.telemetry(this.reading(s)),
        (err: unknown) => this.emit('warning', `${this.name}: telemetry: ${errorText(err)}`),
      ).finally(() => {
        if (this.telemetryTimer) this.scheduleTelemetry();
      });
    }, this.telemetryIntervalMs);
  }

  // ----- the wire -----

  /** Read the PLC's inputs and input registers (one request each) as a snapshot; keeps it as `snapshot`. */
  private async read(priority: ModbusPriority, signal?: AbortSignal): Promise<PressSnapshot> {
    const { inputs, inputRegisters: ir, scaling } = this.map;
    const [bits, words] = await Promise.all([
      this.unit.readDiscreteInputs(this.inputSpan.start, this.inputSpan.count, this.req(priority, signal)),
      this.unit.readInputRegisters(this.registerSpan.start, this.registerSpan.count, this.req(priority, signal)),
    ]);
    const bit = (address: number) => bits[address - this.inputSpan.start];
    const word = (address: number) => words[address - this.registerSpan.start];
    const s: PressSnapshot = {
      cycleDone: bit(inputs.cycleDone),
      ramAtTop: bit(inputs.ramAtTop),
      fault: bit(inputs.fault),
      interlocks: { guard: bit(inputs.guardClosed), lightCurtain: bit(inputs.lightCurtainClear), twoHand: bit(inputs.twoHandStart) },
      position: word(ir.ramPosition) * scaling.positionMm,
      force: word(ir.force) * scaling.forceKn,
      weldCurrent: word(ir.weldCurrent) * scaling.currentKa,
      state: word(ir.state),
      faultCode: word(ir.faultCode),
      peakForce: word(ir.peakForce) * scaling.forceKn,
      bottomPosition: word(ir.bottomPosition) * scaling.positionMm,
    };
    this.last = s;
    return s;
  }

  /** Write register values, consecutive addresses together in one FC 16, in address order. */
  private async writeRegisterSet(entries: readonly [number, number][], signal: AbortSignal): Promise<void> {
    const sorted = [...entries].sort((a, b) => a[0] - b[0]);
    for (let i = 0; i < sorted.length; ) {
      let j = i + 1;
      while (j < sorted.length && sorted[j][0] === sorted[j - 1][0] + 1 && j - i < 123) j++;
      const run = sorted.slice(i, j);
      if (run.length === 1) await this.unit.writeRegister(run[0][0], run[0][1], this.req('normal', signal));
      else await this.unit.writeRegisters(run[0][0], run.map((e) => e[1]), this.req('normal', signal));
      i = j;
    }
  }

  private req(priority: ModbusPriority, signal?: AbortSignal): ModbusRequestOptions {
    return { priority, signal, timeoutMs: this.requestTimeoutMs };
  }

  // ----- words -----

  private openInterlock(s: PressSnapshot): PressInterlock | undefined {
    return this.interlocks.find((i) => !s.interlocks[i]);
  }

  private describeOpen(i: PressInterlock): string {
    return `${INTERLOCK_WORDS[i].name} ${INTERLOCK_WORDS[i].open} (input ${this.map.inputs[INTERLOCK_INPUT[i]]})`;
  }

  private faultText(code: number): string {
    const text = this.faultTexts[code];
    return text ? `code ${code}: ${text}` : `code ${code}`;
  }

  private reading(s: PressSnapshot): Record<string, unknown> {
    return {
      position: round(s.position),
      force: round(s.force),
      weldCurrent: round(s.weldCurrent),
      ramAtTop: s.ramAtTop,
      cycleDone: s.cycleDone,
      fault: s.fault,
      faultCode: s.faultCode,
      state: s.state,
      interlocks: { ...s.interlocks },
    };
  }

  private refusal(operation: string, why: string): WorkcellError {
    return new WorkcellError('refused', `${this.name}: ${operation} refused: ${why}; nothing was written`, { subject: this.name, operation });
  }

  private failure(operation: string, why: string): WorkcellError {
    return new WorkcellError('device-fault', `${this.name}: ${operation}: ${why}`, { subject: this.name, operation });
  }
}

/** Engineering values to the register's resolution (no 12.000000001 in messages and results). */
function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : showValue(err);
}
