import { performance } from 'node:perf_hooks';
import type { OperationContext } from '../../device/device';
import type { OperationSpec } from '../../device/operations';
import { WorkcellError, showValue } from '../../errors/workcell-error';
import { describeError } from '../../scope/reasons';
import type { ModbusPriority, ModbusRequestOptions } from '../../io/modbus/modbus-unit';
import { ModbusDevice, type ModbusDeviceOptions } from '../modbus/modbus-device';
import { addressSpan } from '../modbus/address-span';
import { deviceError } from '../modbus/bus-error';
import { pollUntil } from '../modbus/poll-until';
import { ACTUATOR_OPERATIONS } from './operations';

/** The valve: one solenoid with a spring return (5/2), or two with a centre position (5/3). */
export type ValveKind = 'single' | 'double';
/** What `safe()` leaves the actuator in. */
export type ActuatorSafeState = 'retract' | 'vent' | 'hold';

export interface ActuatorDeviceOptions extends ModbusDeviceOptions {
  /** Default `single`. */
  valve?: ValveKind;
  /** The extend solenoid's coil. Default 0. */
  extendCoil?: number;
  /** The retract solenoid's coil (double-solenoid only). Default: the coil after the extend coil. */
  retractCoil?: number;
  /** The extended limit switch's discrete input. Default 0. */
  extendedInput?: number;
  /** The retracted limit switch's discrete input. Default 1. */
  retractedInput?: number;
  /** How long a stroke may take before its switch must have closed, ms. Default 2000. */
  travelTimeoutMs?: number;
  /** How often the switch is read while waiting, ms. Default 10. */
  pollIntervalMs?: number;
  /** Default `retract`; `vent` only for a double-solenoid valve. */
  safeState?: ActuatorSafeState;
  /** Each request's reply timeout, ms; default the bus's. */
  requestTimeoutMs?: number;
}

/** Where the switches say the cylinder is. */
export type CylinderPosition = 'extended' | 'retracted' | 'between' | 'both switches closed';

/**
 * A pneumatic cylinder or gripper on a Modbus I/O module: its valve's solenoid coil(s) and its
 * extended and retracted limit switches (discrete inputs).
 *
 * Extend and retract switch the valve and wait for the switch at that end to close, reading it
 * every `pollIntervalMs`; if it has not closed within the timeout the operation fails naming the
 * device, the switch and its input, and what the other switch says ("gripper: extend: the
 * extended switch (input 3) did not close within 800 ms; the retracted switch (input 4) is
 * still closed: the cylinder did not move"). A single-solenoid valve extends with its coil on and
 * retracts with it off (the spring). A double-solenoid valve extends with the extend coil on and
 * the retract coil off, and the reverse; the off coil is written first, or both in one request
 * (FC 15) when they are next to each other, so the two are never on together. Vent (double
 * only) switches both off: a centre-exhaust valve lets the cylinder stop and float.
 *
 * Stop: hold. Nothing is written and the valves stay as they are, so a gripper keeps its grip
 * (releasing a part on an emergency stop drops it); a cylinder in motion completes its stroke.
 * A single-solenoid valve has no position that stops a cylinder mid-stroke (only cutting its
 * air does, which is the cell's safety circuit, not this driver), so its stop is this hold too.
 * A cancelled extend or retract stops waiting for its switch and likewise leaves the valve.
 *
 * Safe (`safeState`): `retract` (confirmed by the retracted switch within the travel timeout),
 * `vent` (both solenoids off) or `hold` (nothing written).
 */
export class ActuatorDevice extends ModbusDevice {
  readonly kind = 'actuator';
  readonly operations = ACTUATOR_OPERATIONS;
  readonly valve: ValveKind;
  readonly extendCoil: number;
  readonly retractCoil: number | undefined;
  readonly extendedInput: number;
  readonly retractedInput: number;
  readonly travelTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly safeState: ActuatorSafeState;
  private readonly requestTimeoutMs: number | undefined;
  private readonly inputSpan: { start: number; count: number } | undefined;

  /** Checks the options (a RangeError names the device, the setting and the value). */
  constructor(options: ActuatorDeviceOptions) {
    super(options);
    const name = options.name;
    this.valve = options.valve ?? 'single';
    if (this.valve !== 'single' && this.valve !== 'double') throw new RangeError(`${name}: the valve must be single or double, got ${showValue(this.valve)}`);
    this.extendCoil = options.extendCoil ?? 0;
    this.retractCoil = this.valve === 'double' ? (options.retractCoil ?? this.extendCoil + 1) : undefined;
    this.extendedInput = options.extendedInput ?? 0;
    this.retractedInput = options.retractedInput ?? 1;
    this.travelTimeoutMs = options.travelTimeoutMs ?? 2000;
    this.pollIntervalMs = options.pollIntervalMs ?? 10;
    this.safeState = options.safeState ?? 'retract';
    this.requestTimeoutMs = options.requestTimeoutMs;
    const addresses: [string, number | undefined][] = [
      ['extend coil', this.extendCoil],
      ['retract coil', this.retractCoil],
      ['extended switch input', this.extendedInput],
      ['retracted switch input', this.retractedInput],
    ];
    for (const [what, address] of addresses) {
      if (what === 'retract coil' && this.valve === 'single') continue;
      if (!(typeof address === 'number' && Number.isInteger(address) && address >= 0 && address <= 0xffff)) throw new RangeError(`${name}: the ${what} must be an address 0–65535, got ${showValue(address)}`);
    }
    if (this.retractCoil === this.extendCoil) throw new RangeError(`${name}: the extend and retract coils are both ${this.extendCoil}`);
    if (this.extendedInput === this.retractedInput) throw new RangeError(`${name}: the extended and retracted switches are both input ${this.extendedInput}`);
    if (!['retract', 'vent', 'hold'].includes(this.safeState)) throw new RangeError(`${name}: the safe state must be retract, vent or hold, got ${showValue(this.safeState)}`);
    if (this.safeState === 'vent' && this.valve === 'single') throw new RangeError(`${name}: a single-solenoid valve cannot vent (it has no position with both sides exhausted); choose retract or hold as the safe state`);
    for (const [what, value, min] of [['travel timeout', this.travelTimeoutMs, 1], ['poll interval', this.pollIntervalMs, 1]] as const) {
      if (!(Number.isFinite(value) && value >= min && value <= 600_000)) throw new RangeError(`${name}: the ${what} must be ${min} ms to 10 min, got ${showValue(value)}`);
    }
    const span = addressSpan([this.extendedInput, this.retractedInput]);
    this.inputSpan = span.count <= 16 ? span : undefined;
  }

  // ----- session -----

  protected async onSessionStart(): Promise<void> {
    try {
      await this.switches('normal');
    } catch (err) {
      throw new WorkcellError('unit-check', `${this.name}: unit ${this.unit.unitId} does not answer for the limit switches (inputs ${this.extendedInput} and ${this.retractedInput}): ${describeError(err)}`, { subject: this.name, operation: 'connect', cause: err });
    }
  }

  protected onSessionEnd(): void {}

  // ----- the device contract -----

  protected async runOperation(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    const timeoutMs = (params.timeoutMs as number | undefined) ?? this.travelTimeoutMs;
    switch (op.name) {
      case 'extend':
      case 'retract':
        return this.stroke(op.name, op.name === 'extend' ? 'extended' : 'retracted', timeoutMs, ctx.signal, 'normal');
      case 'vent': {
        await this.setValve('vent', 'normal', ctx.signal);
        return { position: positionOf(await this.switches('normal', ctx.signal)) };
      }
      case 'read': {
        const s = await this.switches('normal', ctx.signal);
        const coils = await this.valveCoils(ctx.signal);
        return { position: positionOf(s), ...s, valve: coils };
      }
      default:
        throw new WorkcellError('unknown-operation', `${this.name}: operation ${op.name} is not implemented`, { subject: this.name, operation: op.name });
    }
  }

  protected override checkLimits(op: OperationSpec): void {
    if (op.name === 'vent' && this.valve === 'single') {
      throw new WorkcellError('refused', `${this.name}: vent refused: a single-solenoid valve has no vent position (its spring returns it); nothing was written`, { subject: this.name, operation: op.name });
    }
  }

  /** Hold: nothing is written (see the class comment). */
  protected sendStop(): Promise<void> {
    return Promise.resolve();
  }

  async safe(signal: AbortSignal): Promise<void> {
    if (this.safeState === 'hold') return;
    try {
      if (this.safeState === 'vent') await this.setValve('vent', 'stop');
      else await this.stroke('safe', 'retracted', this.travelTimeoutMs, signal, 'stop');
    } catch (err) {
      throw deviceError(this.name, 'safe', err, signal);
    }
  }

  // ----- strokes -----

  private async stroke(operation: string, to: 'extended' | 'retracted', timeoutMs: number, signal: AbortSignal, priority: ModbusPriority): Promise<{ position: CylinderPosition; ms: number }> {
    const started = performance.now();
    await this.setValve(to === 'extended' ? 'extend' : 'retract', priority, priority === 'stop' ? undefined : signal);
    const { value, met } = await pollUntil(() => this.switches(priority), (s) => s[to], { periodMs: this.pollIntervalMs, timeoutMs, signal });
    if (met) return { position: to, ms: Math.round(performance.now() - started) };
    const other = to === 'extended' ? 'retracted' : 'extended';
    const otherInput = other === 'extended' ? this.extendedInput : this.retractedInput;
    const why = value[other]
      ? `the ${other} switch (input ${otherInput}) is still closed: the cylinder did not move`
      : `neither switch is closed: the cylinder stopped on its way, or the ${to} switch is broken`;
    throw new WorkcellError('not-confirmed', `${this.name}: ${operation}: the ${to} switch (input ${to === 'extended' ? this.extendedInput : this.retractedInput}) did not close within ${timeoutMs} ms; ${why}`, {
      subject: this.name,
      operation,
      value: timeoutMs,
    });
  }

  /** Put the valve in `to`: the coil going off is written before the one going on, or both in one FC 15 when adjacent. */
  private async setValve(to: 'extend' | 'retract' | 'vent', priority: ModbusPriority, signal?: AbortSignal): Promise<void> {
    const req = this.req(priority, signal);
    if (this.valve === 'single') {
      await this.unit.writeCoil(this.extendCoil, to === 'extend', req);
      return;
    }
    const ext = this.extendCoil;
    const ret = this.retractCoil!;
    const want = { [ext]: to === 'extend', [ret]: to === 'retract' };
    if (Math.abs(ext - ret) === 1) {
      const start = Math.min(ext, ret);
      await this.unit.writeCoils(start, [want[start], want[start + 1]], req);
      return;
    }
    const [first, second] = want[ext] ? [ret, ext] : [ext, ret];
    await this.unit.writeCoil(first, want[first], req);
    await this.unit.writeCoil(second, want[second], req);
  }

  // ----- the wire -----

  private async switches(priority: ModbusPriority, signal?: AbortSignal): Promise<{ extended: boolean; retracted: boolean }> {
    const req = this.req(priority, signal);
    if (this.inputSpan) {
      const bits = await this.unit.readDiscreteInputs(this.inputSpan.start, this.inputSpan.count, req);
      return { extended: bits[this.extendedInput - this.inputSpan.start], retracted: bits[this.retractedInput - this.inputSpan.start] };
    }
    const [e, r] = await Promise.all([this.unit.readDiscreteInputs(this.extendedInput, 1, req), this.unit.readDiscreteInputs(this.retractedInput, 1, req)]);
    return { extended: e[0], retracted: r[0] };
  }

  private async valveCoils(signal: AbortSignal): Promise<{ extend: boolean; retract?: boolean }> {
    const req = this.req('normal', signal);
    const [extend] = await this.unit.readCoils(this.extendCoil, 1, req);
    if (this.retractCoil === undefined) return { extend };
    const [retract] = await this.unit.readCoils(this.retractCoil, 1, req);
    return { extend, retract };
  }

  private req(priority: ModbusPriority, signal?: AbortSignal): ModbusRequestOptions {
    return { priority, signal, timeoutMs: this.requestTimeoutMs };
  }
}

function positionOf(s: { extended: boolean; retracted: boolean }): CylinderPosition {
  if (s.extended && s.retracted) return 'both switches closed';
  if (s.extended) return 'extended';
  if (s.retracted) return 'retracted';
  return 'between';
}
