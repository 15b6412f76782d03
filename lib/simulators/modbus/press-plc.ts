import { EventEmitter } from 'node:events';
import { ModbusException, type ModbusSlave } from './modbus-slave';
import { SteppedTime } from './stepped-time';

/** The PLC's coils (FC 1/5/15). Commands are acted on when written true; see `PressPlc`. */
export const PRESS_PLC_COILS = { cycleStart: 0, stop: 1, retract: 2, weldEnable: 3, faultReset: 4 } as const;
/** The PLC's discrete inputs (FC 2). */
export const PRESS_PLC_INPUTS = { cycleDone: 0, ramAtTop: 1, guardClosed: 2, lightCurtainClear: 3, twoHandStart: 4, fault: 5 } as const;
/** The PLC's holding registers (FC 3/6/16): force in 0.1 kN, position in 0.1 mm, current in 0.01 kA, times in ms. */
export const PRESS_PLC_HOLDING = { targetForce: 0, targetPosition: 1, holdTime: 2, weldCurrent: 3, weldTime: 4, mode: 5 } as const;
/**
 * The PLC's input registers (FC 4), scaled as the holding registers. `peakForce` and
 * `bottomPosition` are the highest force and the deepest ram position of the cycle running or
 * last run (cleared at cycle start), as a press's process monitor records them.
 */
export const PRESS_PLC_INPUT_REGISTERS = { ramPosition: 0, force: 1, weldCurrent: 2, state: 3, faultCode: 4, cycles: 5, peakForce: 6, bottomPosition: 7 } as const;

/** `mode` register values. */
export const PRESS_MODE = { force: 0, position: 1 } as const;

/** The `state` input register. */
export const PRESS_STATE = { idle: 0, advancing: 1, pressing: 2, welding: 3, holding: 4, retracting: 5, stopped: 6, fault: 9 } as const;
export type PressState = keyof typeof PRESS_STATE;

/** The `faultCode` input register. */
export const PRESS_FAULT = { none: 0, guardOpened: 1, lightCurtainBroken: 2, twoHandReleased: 3, overload: 4, strokeEnd: 5 } as const;

/** The interlock inputs a test can open. */
export type PressInterlock = 'guard' | 'lightCurtain' | 'twoHand';

const INTERLOCK_FAULT: Readonly<Record<PressInterlock, number>> = {
  guard: PRESS_FAULT.guardOpened,
  lightCurtain: PRESS_FAULT.lightCurtainBroken,
  twoHand: PRESS_FAULT.twoHandReleased,
};

export interface PressPlcOptions {
  /** Simulated ms per real ms. Default 1. */
  timeScale?: number;
  /** Ram stroke from the top, mm. Default 150. */
  strokeMm?: number;
  /** Where the ram touches the part, mm from the top. Default 80. */
  partAtMm?: number;
  /** Part stiffness: force per mm of ram travel past contact, kN/mm. Default 50. */
  stiffnessKnPerMm?: number;
  /** Rated force: a target above it is refused (exception 03), a force above it is an overload fault. kN. Default 400. */
  ratedForceKn?: number;
  /** Most weld current the transformer gives, kA (above: exception 03). Default 25. */
  ratedCurrentKa?: number;
  /** Rapid approach speed down to contact, mm/s. Default 200. */
  approachSpeed?: number;
  /** Pressing speed past contact, mm/s. Default 20. */
  pressSpeed?: number;
  /** Retract speed, mm/s. Default 250. */
  retractSpeed?: number;
  /** Interlocks the PLC enforces (a cycle does not start, and stops, while one is open). Default all three. */
  interlocks?: readonly PressInterlock[];
}

/** One write the PLC received, for tests (`writes`). */
export interface PressWrite {
  function: 'coil' | 'register';
  address: number;
  value: number | boolean;
}

/**
 * A hydraulic press / spot welder PLC as a simulated Modbus unit (register map in the
 * `PRESS_PLC_*` constants; 0-based addresses). Any other address answers exception 02, a value
 * the PLC refuses exception 03.
 *
 * The ram: a cycle start (coil written true) is accepted only with the ram at the top, no fault
 * and every enforced interlock closed (otherwise the PLC ignores it, as a PLC ignores a start
 * button then); it clears `cycleDone`, approaches at the rapid speed, presses at the pressing
 * speed past contact with the part (force = stiffness × travel past contact), and stops pressing
 * when the target is reached: the target force (mode 0) or the target position (mode 1). Then,
 * with weld enable on and a weld current and time set, the weld current flows for the weld time
 * (only then: the ram closed and weld enable on); then the ram holds for the hold time, retracts
 * to the top, and `cycleDone` is set. The cycle start coil reads true while the cycle runs.
 * A force above the rated force is an overload fault; the ram reaching the stroke end before
 * its target force is a stroke-end fault.
 *
 * Stop (the stop coil written true): the ram halts where it is, the pressure is released (force
 * 0), the weld current goes off, the state reads `stopped`. Retract (its coil written true):
 * the ram goes up to the top, also with an interlock open (the upstroke moves away from the
 * die); the coil reads true until it is there.
 *
 * Interlocks (`openInterlock`, `closeInterlock`): one opening while the ram is going down,
 * pressing, welding or holding stops the ram as the stop coil does and flags a fault (`fault`
 * input, `faultCode` naming the interlock); the fault reset coil clears the fault only once
 * every enforced interlock is closed. `unsafeEvents` counts whatever happened while an
 * interlock was open that should not have (a cycle start or weld enable written, the ram
 * moving down, weld current flowing); `unsafeLog` says what each was.
 *
 * Events: `'write'` (PressWrite), `'interlock-stop'` (the interlock), `'weld'` (the current, kA, as it
 * starts to flow), `'cycle-done'`, `'stopped'`.
 */
export class PressPlc extends EventEmitter implements ModbusSlave {
  readonly strokeMm: number;
  readonly partAtMm: number;
  readonly stiffness: number;
  readonly ratedForceKn: number;
  readonly ratedCurrentKa: number;
  readonly approachSpeed: number;
  readonly pressSpeed: number;
  readonly retractSpeed: number;
  readonly enforced: ReadonlySet<PressInterlock>;
  /** Every write received, in order. */
  readonly writes: PressWrite[] = [];
  /** What happened while an interlock was open that should not have. */
  readonly unsafeLog: string[] = [];
  /** The holding registers, raw. */
  readonly holding = [0, 0, 500, 0, 0, PRESS_MODE.force];
  private readonly time: SteppedTime;
  private positionMm = 0;
  private forceKn = 0;
  private currentKa = 0;
  private stateValue: PressState = 'idle';
  private faultCode: number = PRESS_FAULT.none;
  private cycleDoneValue = false;
  private weldEnable = false;
  private retractCommanded = false;
  private phaseMs = 0;
  private cycleCount = 0;
  private peakForceKn = 0;
  private bottomMm = 0;
  private readonly closed: Record<PressInterlock, boolean> = { guard: true, lightCurtain: true, twoHand: true };
  /** The setpoints latched at cycle start (a write during the cycle applies to the next one). */
  private cycle = { mode: 0, forceKn: 0, positionMm: 0, holdMs: 0, currentKa: 0, weldMs: 0 };

  constructor(options: PressPlcOptions = {}) {
    super();
    this.strokeMm = options.strokeMm ?? 150;
    this.partAtMm = options.partAtMm ?? 80;
    this.stiffness = options.stiffnessKnPerMm ?? 50;
    this.ratedForceKn = options.ratedForceKn ?? 400;
    this.ratedCurrentKa = options.ratedCurrentKa ?? 25;
    this.approachSpeed = options.approachSpeed ?? 200;
    this.pressSpeed = options.pressSpeed ?? 20;
    this.retractSpeed = options.retractSpeed ?? 250;
    this.enforced = new Set(options.interlocks ?? ['guard', 'lightCurtain', 'twoHand']);
    this.time = new SteppedTime(options.timeScale ?? 1, 1, (dt) => this.step(dt));
  }

  get timeScale(): number {
    return this.time.timeScale;
  }

  set timeScale(scale: number) {
    this.time.advance();
    this.time.timeScale = scale;
  }

  // ----- what tests look at -----

  get state(): PressState {
    this.time.advance();
    return this.stateValue;
  }

  get ramPositionMm(): number {
    this.time.advance();
    return this.positionMm;
  }

  get ramAtTop(): boolean {
    this.time.advance();
    return this.positionMm <= 0;
  }

  get forceKnNow(): number {
    this.time.advance();
    return this.forceKn;
  }

  get weldCurrentKa(): number {
    this.time.advance();
    return this.currentKa;
  }

  get weldEnabled(): boolean {
    return this.weldEnable;
  }

  get fault(): number {
    this.time.advance();
    return this.faultCode;
  }

  get cycles(): number {
    this.time.advance();
    return this.cycleCount;
  }

  get unsafeEvents(): number {
    return this.unsafeLog.length;
  }

  isClosed(interlock: PressInterlock): boolean {
    return this.closed[interlock];
  }

  /** Open an interlock (guard opened, light curtain broken, two-hand buttons released). */
  openInterlock(interlock: PressInterlock): void {
    this.time.advance();
    this.closed[interlock] = false;
    if (!this.enforced.has(interlock)) return;
    if (this.isDangerous()) {
      this.halt('fault');
      this.faultCode = INTERLOCK_FAULT[interlock];
      this.emit('interlock-stop', interlock);
    }
  }

  closeInterlock(interlock: PressInterlock): void {
    this.time.advance();
    this.closed[interlock] = true;
  }

  // ----- Modbus -----

  readCoils(address: number, count: number): boolean[] {
    this.time.advance();
    const coils = [this.isCycling(), false, this.retractCommanded, this.weldEnable, false];
    return span(coils, address, count);
  }

  readDiscreteInputs(address: number, count: number): boolean[] {
    this.time.advance();
    const inputs = [this.cycleDoneValue, this.positionMm <= 0, this.closed.guard, this.closed.lightCurtain, this.closed.twoHand, this.faultCode !== PRESS_FAULT.none];
    return span(inputs, address, count);
  }

  readHoldingRegisters(address: number, count: number): number[] {
    return span(this.holding, address, count);
  }

  readInputRegisters(address: number, count: number): number[] {
    this.time.advance();
    const registers = [
      Math.round(this.positionMm * 10),
      Math.round(this.forceKn * 10),
      Math.round(this.currentKa * 100),
      PRESS_STATE[this.stateValue],
      this.faultCode,
      this.cycleCount & 0xffff,
      Math.round(this.peakForceKn * 10),
      Math.round(this.bottomMm * 10),
    ];
    return span(registers, address, count);
  }

  writeCoil(address: number, value: boolean): void {
    this.time.advance();
    if (address < 0 || address > PRESS_PLC_COILS.faultReset) throw new ModbusException(2);
    this.writes.push({ function: 'coil', address, value });
    this.emit('write', this.writes[this.writes.length - 1]);
    switch (address) {
      case PRESS_PLC_COILS.cycleStart:
        if (value) this.start();
        break;
      case PRESS_PLC_COILS.stop:
        if (value && this.stateValue !== 'idle') this.halt('stopped');
        if (value) this.retractCommanded = false;
        break;
      case PRESS_PLC_COILS.retract:
        if (value && this.positionMm > 0 && !this.isDangerous()) {
          this.retractCommanded = true;
          this.currentKa = 0;
          this.forceKn = 0;
          this.stateValue = 'retracting';
        }
        break;
      case PRESS_PLC_COILS.weldEnable:
        if (value && this.anyOpen()) this.unsafe('weld enable written on');
        this.weldEnable = value;
        if (!value) this.currentKa = 0;
        break;
      case PRESS_PLC_COILS.faultReset:
        if (value && this.faultCode !== PRESS_FAULT.none && !this.anyOpen()) {
          this.faultCode = PRESS_FAULT.none;
          if (this.stateValue === 'fault') this.stateValue = this.positionMm <= 0 ? 'idle' : 'stopped';
        }
        break;
    }
  }

  writeCoils(address: number, values: readonly boolean[]): void {
    if (address < 0 || address + values.length - 1 > PRESS_PLC_COILS.faultReset) throw new ModbusException(2);
    values.forEach((v, i) => this.writeCoil(address + i, v));
  }

  writeRegister(address: number, value: number): void {
    this.writeRegisters(address, [value]);
  }

  writeRegisters(address: number, values: readonly number[]): void {
    this.time.advance();
    if (address < 0 || address + values.length > this.holding.length) throw new ModbusException(2);
    values.forEach((v, i) => this.checkRegister(address + i, v));
    values.forEach((v, i) => {
      this.holding[address + i] = v;
      this.writes.push({ function: 'register', address: address + i, value: v });
      this.emit('write', this.writes[this.writes.length - 1]);
    });
  }

  // ----- the model -----

  private checkRegister(address: number, value: number): void {
    const refuse = value < 0 || value > 0xffff
      || (address === PRESS_PLC_HOLDING.targetForce && value / 10 > this.ratedForceKn)
      || (address === PRESS_PLC_HOLDING.targetPosition && value / 10 > this.strokeMm)
      || (address === PRESS_PLC_HOLDING.weldCurrent && value / 100 > this.ratedCurrentKa)
      || (address === PRESS_PLC_HOLDING.mode && value !== PRESS_MODE.force && value !== PRESS_MODE.position);
    if (refuse) throw new ModbusException(3);
  }

  private start(): void {
    if (this.anyOpen()) this.unsafe('cycle start written');
    if (this.isCycling() || this.positionMm > 0 || this.faultCode !== PRESS_FAULT.none || this.anyOpen()) return;
    const h = this.holding;
    this.cycle = {
      mode: h[PRESS_PLC_HOLDING.mode],
      forceKn: h[PRESS_PLC_HOLDING.targetForce] / 10,
      positionMm: h[PRESS_PLC_HOLDING.targetPosition] / 10,
      holdMs: h[PRESS_PLC_HOLDING.holdTime],
      currentKa: h[PRESS_PLC_HOLDING.weldCurrent] / 100,
      weldMs: h[PRESS_PLC_HOLDING.weldTime],
    };
    this.cycleDoneValue = false;
    this.peakForceKn = 0;
    this.bottomMm = 0;
    this.stateValue = 'advancing';
    this.phaseMs = 0;
  }

  private step(dtMs: number): void {
    const dt = dtMs / 1000;
    switch (this.stateValue) {
      case 'advancing':
      case 'pressing': {
        if (this.anyOpen()) this.unsafe(`ram moving down at ${this.positionMm.toFixed(1)} mm`);
        const pressing = this.positionMm >= this.partAtMm;
        this.stateValue = pressing ? 'pressing' : 'advancing';
        let next = this.positionMm + (pressing ? this.pressSpeed : this.approachSpeed) * dt;
        if (this.cycle.mode === PRESS_MODE.position) next = Math.min(next, this.cycle.positionMm);
        this.positionMm = Math.min(next, this.strokeMm);
        this.forceKn = Math.max(0, this.positionMm - this.partAtMm) * this.stiffness;
        this.peakForceKn = Math.max(this.peakForceKn, this.forceKn);
        this.bottomMm = Math.max(this.bottomMm, this.positionMm);
        if (this.forceKn > this.ratedForceKn) {
          this.halt('fault');
          this.faultCode = PRESS_FAULT.overload;
          return;
        }
        const reached = this.cycle.mode === PRESS_MODE.position ? this.positionMm >= this.cycle.positionMm : this.forceKn >= this.cycle.forceKn && this.forceKn > 0;
        if (reached) {
          this.phaseMs = 0;
          this.stateValue = this.weldEnable && this.cycle.currentKa > 0 && this.cycle.weldMs > 0 ? 'welding' : 'holding';
          if (this.stateValue === 'welding') this.emit('weld', this.cycle.currentKa);
        } else if (this.positionMm >= this.strokeMm) {
          this.halt('fault');
          this.faultCode = PRESS_FAULT.strokeEnd;
        }
        return;
      }
      case 'welding':
        // Current flows only with weld enable on and the ram closed on the part.
        this.currentKa = this.weldEnable ? this.cycle.currentKa : 0;
        if (this.currentKa > 0 && this.anyOpen()) this.unsafe('weld current flowing');
        this.phaseMs += dtMs;
        if (this.phaseMs >= this.cycle.weldMs) {
          this.currentKa = 0;
          this.phaseMs = 0;
          this.stateValue = 'holding';
        }
        return;
      case 'holding':
        this.phaseMs += dtMs;
        if (this.phaseMs >= this.cycle.holdMs) {
          this.forceKn = 0;
          this.stateValue = 'retracting';
        }
        return;
      case 'retracting':
        this.forceKn = 0;
        this.positionMm = Math.max(0, this.positionMm - this.retractSpeed * dt);
        if (this.positionMm <= 0) {
          const wasCycle = !this.retractCommanded;
          this.retractCommanded = false;
          this.stateValue = this.faultCode === PRESS_FAULT.none ? 'idle' : 'fault';
          if (wasCycle) {
            this.cycleDoneValue = true;
            this.cycleCount++;
            this.emit('cycle-done');
          }
        }
        return;
      default:
        return;
    }
  }

  /** Halt the ram where it is, release the pressure, weld current off. */
  private halt(to: 'stopped' | 'fault'): void {
    this.stateValue = to;
    this.forceKn = 0;
    this.currentKa = 0;
    this.retractCommanded = false;
    this.emit('stopped', to);
  }

  private isCycling(): boolean {
    return ['advancing', 'pressing', 'welding', 'holding'].includes(this.stateValue) || (this.stateValue === 'retracting' && !this.retractCommanded);
  }

  /** Going down, on the part, welding or holding: where an open interlock stops the ram. */
  private isDangerous(): boolean {
    return ['advancing', 'pressing', 'welding', 'holding'].includes(this.stateValue);
  }

  private anyOpen(): boolean {
    for (const i of this.enforced) if (!this.closed[i]) return true;
    return false;
  }

  private unsafe(what: string): void {
    const open = [...this.enforced].filter((i) => !this.closed[i]).join(', ');
    this.unsafeLog.push(`${what} while ${open} open`);
  }
}

/** `count` values from `address`; exception 02 when any of them is beyond the map. */
function span<T>(values: readonly T[], address: number, count: number): T[] {
  if (address < 0 || count < 1 || address + count > values.length) throw new ModbusException(2);
  return values.slice(address, address + count);
}
