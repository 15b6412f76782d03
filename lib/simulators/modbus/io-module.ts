import { EventEmitter } from 'node:events';
import { ModbusException, type ModbusSlave } from './modbus-slave';
import { SteppedTime } from './stepped-time';

/**
 * A pneumatic cylinder wired to the I/O module: its valve's solenoid coil(s) and its two limit
 * switches. A single-solenoid valve (5/2, spring return) extends while its coil is on and
 * retracts when it is off. A double-solenoid valve (5/3, centre exhaust) extends with the extend
 * coil on, retracts with the retract coil on, and with both off (vented) the cylinder stops
 * where it is (it floats); both on is a conflict: the spool stays centred and it stops too.
 */
export interface CylinderWiring {
  valve: 'single' | 'double';
  /** The extend solenoid's coil. */
  extendCoil: number;
  /** The retract solenoid's coil (double-solenoid valves only). */
  retractCoil?: number;
  /** The discrete input of the switch that closes at full extension. */
  extendedInput: number;
  /** The discrete input of the switch that closes at full retraction. */
  retractedInput: number;
  /** Full stroke time, ms. Default 300. */
  travelMs?: number;
}

export interface IoModuleOptions {
  /** Coils (valve outputs) on the module, 0…outputs-1. Default 8. */
  outputs?: number;
  /** Discrete inputs on the module, 0…inputs-1. Default 8. */
  inputs?: number;
  /** Default: one single-solenoid cylinder on coil 0, switches on inputs 0 (extended) and 1 (retracted). */
  cylinders?: readonly CylinderWiring[];
  /** Simulated ms per real ms. Default 1. */
  timeScale?: number;
}

/** What a cylinder is doing, for tests. */
export interface CylinderState {
  /** 0 fully retracted … 1 fully extended. */
  position: number;
  stuck: boolean;
  /** Switches forced open (a broken wire). */
  broken: { extended: boolean; retracted: boolean };
}

interface Cylinder extends CylinderState {
  wiring: Required<Omit<CylinderWiring, 'retractCoil'>> & { retractCoil?: number };
}

/**
 * A Modbus digital I/O module driving pneumatic valves (coils) and reading cylinder limit
 * switches (discrete inputs). Coils and inputs beyond the module answer exception 02; coils no
 * cylinder is wired to are plain outputs. Cylinders start fully retracted. A cylinder moves at
 * 1/`travelMs` of its stroke per ms as its valve directs (see `CylinderWiring`); a switch reads
 * closed exactly at its end of the stroke.
 *
 * Faults on demand: `stick(i)` (the cylinder no longer moves), `breakSwitch(i, which)` (that
 * switch reads open whatever the cylinder does); `repair(i)` clears both.
 * Events: `'write'` ({address, value}) for each coil written.
 */
export class ModbusIoModule extends EventEmitter implements ModbusSlave {
  readonly outputs: number;
  readonly inputs: number;
  /** Coil states as written. */
  readonly coils: boolean[];
  /** Every coil write, in order. */
  readonly writes: { address: number; value: boolean }[] = [];
  private readonly cylinders: Cylinder[];
  private readonly time: SteppedTime;

  constructor(options: IoModuleOptions = {}) {
    super();
    this.outputs = options.outputs ?? 8;
    this.inputs = options.inputs ?? 8;
    this.coils = new Array<boolean>(this.outputs).fill(false);
    const wiring = options.cylinders ?? [{ valve: 'single', extendCoil: 0, extendedInput: 0, retractedInput: 1 }];
    this.cylinders = wiring.map((w, i) => {
      const coils = w.valve === 'double' ? [w.extendCoil, w.retractCoil] : [w.extendCoil];
      if (coils.some((c) => c === undefined || c < 0 || c >= this.outputs)) throw new RangeError(`cylinder ${i}: its coils must be 0…${this.outputs - 1}`);
      if ([w.extendedInput, w.retractedInput].some((d) => d < 0 || d >= this.inputs)) throw new RangeError(`cylinder ${i}: its switches must be inputs 0…${this.inputs - 1}`);
      return { wiring: { ...w, travelMs: w.travelMs ?? 300 }, position: 0, stuck: false, broken: { extended: false, retracted: false } };
    });
    this.time = new SteppedTime(options.timeScale ?? 1, 1, (dt) => this.step(dt));
  }

  get timeScale(): number {
    return this.time.timeScale;
  }

  set timeScale(scale: number) {
    this.time.advance();
    this.time.timeScale = scale;
  }

  /** Cylinder `i` as it is now. */
  cylinder(i: number): CylinderState {
    this.time.advance();
    const c = this.at(i);
    return { position: c.position, stuck: c.stuck, broken: { ...c.broken } };
  }

  /** The cylinder no longer moves (seized, no air). */
  stick(i: number): void {
    this.time.advance();
    this.at(i).stuck = true;
  }

  /** The switch reads open from now on (a broken wire or a switch knocked out of place). */
  breakSwitch(i: number, which: 'extended' | 'retracted'): void {
    this.time.advance();
    this.at(i).broken[which] = true;
  }

  repair(i: number): void {
    this.time.advance();
    const c = this.at(i);
    c.stuck = false;
    c.broken = { extended: false, retracted: false };
  }

  readCoils(address: number, count: number): boolean[] {
    if (address < 0 || count < 1 || address + count > this.outputs) throw new ModbusException(2);
    return this.coils.slice(address, address + count);
  }

  readDiscreteInputs(address: number, count: number): boolean[] {
    if (address < 0 || count < 1 || address + count > this.inputs) throw new ModbusException(2);
    this.time.advance();
    const inputs = new Array<boolean>(this.inputs).fill(false);
    for (const c of this.cylinders) {
      if (c.position >= 1 && !c.broken.extended) inputs[c.wiring.extendedInput] = true;
      if (c.position <= 0 && !c.broken.retracted) inputs[c.wiring.retractedInput] = true;
    }
    return inputs.slice(address, address + count);
  }

  writeCoil(address: number, value: boolean): void {
    this.writeCoils(address, [value]);
  }

  writeCoils(address: number, values: readonly boolean[]): void {
    if (address < 0 || values.length < 1 || address + values.length > this.outputs) throw new ModbusException(2);
    this.time.advance();
    values.forEach((value, i) => {
      this.coils[address + i] = value;
      this.writes.push({ address: address + i, value });
      this.emit('write', { address: address + i, value });
    });
  }

  private step(dtMs: number): void {
    for (const c of this.cylinders) {
      if (c.stuck) continue;
      const w = c.wiring;
      const extend = this.coils[w.extendCoil];
      let direction: number;
      if (w.valve === 'single') direction = extend ? 1 : -1;
      else {
        const retract = this.coils[w.retractCoil!];
        direction = extend === retract ? 0 : extend ? 1 : -1;
      }
      c.position = Math.min(1, Math.max(0, c.position + (direction * dtMs) / w.travelMs));
    }
  }

  private at(i: number): Cylinder {
    const c = this.cylinders[i];
    if (!c) throw new RangeError(`no cylinder ${i}: the module has ${this.cylinders.length}`);
    return c;
  }
}
