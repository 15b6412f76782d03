import type { ModbusRequestOptions, ModbusUnit } from '../../io/modbus/modbus-unit';
import type { FurnaceRegisterMap, TemperatureUnit } from './presets';

/** °C ↔ °F and back; the identity when the units agree. */
export function convertTemperature(value: number, from: TemperatureUnit, to: TemperatureUnit): number {
  if (from === to) return value;
  return from === 'C' ? value * 1.8 + 32 : (value - 32) / 1.8;
}

const f32 = new DataView(new ArrayBuffer(4));

/** What one read of the controller found, in the controller's own unit. */
export interface ControllerReading {
  /** Null with a sensor break. */
  pv: number | null;
  setpoint: number;
  /** %. */
  output: number;
  /** Why the sensor reads nothing (`sensor break (status bit 5 of register 75)`), or null. */
  sensorBreak: string | null;
}

/**
 * A furnace controller's registers on a unit, read and written in the controller's own unit
 * (`unit`, which a units register may set at session start): the encoding (16-bit signed with
 * a scale, or 32-bit floats in either word order) and the map's addresses live here, so the
 * device speaks in temperatures and percentages. Every method takes the request options (the
 * operation's signal, the priority) and rejects with the bus's errors (ModbusExceptionError,
 * ModbusTimeoutError, …) as they are; the device words them.
 */
export class FurnaceRegisters {
  /** The controller's temperature unit (from the map, or its units register). */
  unit: TemperatureUnit;
  /** Whether `setpointEnable` was written in this session. */
  private enabled = false;

  constructor(
    private readonly modbus: ModbusUnit,
    readonly map: FurnaceRegisterMap,
  ) {
    this.unit = map.temperatureUnit;
  }

  /** How many registers one value takes. */
  get width(): 1 | 2 {
    return this.map.format === 'float32' ? 2 : 1;
  }

  /**
   * The session ended: the enable is written again with the next setpoint (the controller may
   * have been powered off meanwhile), even when that is an owed stop written before the next
   * session's check.
   */
  endSession(): void {
    this.enabled = false;
  }

  /** A new session: the units register is read when the map has one. */
  async startSession(options: ModbusRequestOptions): Promise<void> {
    const units = this.map.unitsRegister;
    if (units) {
      const [word] = await this.modbus.readHoldingRegisters(units.address, 1, options);
      if (word === units.celsius) this.unit = 'C';
      else if (word === units.fahrenheit) this.unit = 'F';
      else throw new RangeError(`its units register ${units.address} reads ${word}, neither ${units.celsius} (°C) nor ${units.fahrenheit} (°F)`);
    }
  }

  /** Decode one value (temperature or output) from its words. */
  decode(words: readonly number[], scale: number): number {
    if (this.map.format === 'float32') {
      const [first, second] = words;
      const [hi, lo] = this.map.wordOrder === 'low-first' ? [second, first] : [first, second];
      f32.setUint16(0, hi);
      f32.setUint16(2, lo);
      return f32.getFloat32(0);
    }
    const w = words[0];
    return (w >= 0x8000 ? w - 0x10000 : w) * scale;
  }

  /** Encode one value into its words; a RangeError when a 16-bit word cannot hold it. */
  encode(value: number, scale: number): number[] {
    if (this.map.format === 'float32') {
      f32.setFloat32(0, value);
      const hi = f32.getUint16(0);
      const lo = f32.getUint16(2);
      return this.map.wordOrder === 'low-first' ? [lo, hi] : [hi, lo];
    }
    const n = Math.round(value / scale);
    if (n < -32768 || n > 32767) throw new RangeError(`${value} does not fit the controller's 16-bit register at a scale of ${scale}`);
    return [n & 0xffff];
  }

  private async readValue(address: number, scale: number, options: ModbusRequestOptions): Promise<number> {
    return this.decode(await this.modbus.readHoldingRegisters(address, this.width, options), scale);
  }

  private async writeValue(address: number, value: number, scale: number, options: ModbusRequestOptions): Promise<void> {
    const words = this.encode(value, scale);
    if (words.length === 1) await this.modbus.writeRegister(address, words[0], options);
    else await this.modbus.writeRegisters(address, words, options);
  }

  /** PV, setpoint, output and the sensor's state, in that order of requests. */
  async read(options: ModbusRequestOptions): Promise<ControllerReading> {
    const m = this.map;
    const pvWords = await this.modbus.readHoldingRegisters(m.pv, this.width, options);
    const setpoint = await this.readValue(m.setpoint, m.temperatureScale, options);
    const output = await this.readValue(m.output, m.outputScale, options);
    const sensorBreak = await this.sensorBreak(pvWords, options);
    return { pv: sensorBreak ? null : this.decode(pvWords, m.temperatureScale), setpoint, output, sensorBreak };
  }

  /** The working setpoint (where the controller's own ramp is), or the setpoint where the map has none. */
  readWorkingSetpoint(options: ModbusRequestOptions): Promise<number> {
    return this.readValue(this.map.workingSetpoint ?? this.map.setpoint, this.map.temperatureScale, options);
  }

  /** Why the sensor reads nothing, or null. `pvWords` is the PV just read. */
  private async sensorBreak(pvWords: readonly number[], options: ModbusRequestOptions): Promise<string | null> {
    const s = this.map.sensorBreak;
    switch (s.kind) {
      case 'pv-codes': {
        const why = s.codes[pvWords[0]];
        return why === undefined ? null : `sensor break: PV reads error code 0x${pvWords[0].toString(16).toUpperCase()} (${why})`;
      }
      case 'status-bit': {
        const [word] = await this.modbus.readHoldingRegisters(s.address, 1, options);
        return word & (1 << s.bit) ? `sensor break (bit ${s.bit} of status register ${s.address} is set)` : null;
      }
      case 'error-register': {
        const [word] = await this.modbus.readHoldingRegisters(s.address, 1, options);
        return word === s.ok ? null : `sensor break: input error register ${s.address} reads ${word} (${s.ok} is no error)`;
      }
    }
  }

  /** Write the setpoint to the register meant for frequent writes (enabling it first once per session). */
  async writeSetpoint(value: number, options: ModbusRequestOptions): Promise<void> {
    await this.writeValue(this.map.setpoint, value, this.map.temperatureScale, options);
    const enable = this.map.setpointEnable;
    if (enable && !this.enabled) {
      // After the value, so the controller never switches to a stale remote setpoint.
      await this.modbus.writeRegister(enable.address, enable.value, options);
      this.enabled = true;
    }
  }

  /** Run (true) or stop (false) the control output. */
  async setRunning(run: boolean, options: ModbusRequestOptions): Promise<void> {
    const r = this.map.run;
    if (r.kind === 'coil') await this.modbus.writeCoil(r.address, run, options);
    else await this.modbus.writeRegister(r.address, run ? r.run : r.stop, options);
  }

  /** Auto, or manual with the output given (written before the switch, so the output never jumps to a stale one). */
  async setMode(manual: boolean, output: number | undefined, options: ModbusRequestOptions): Promise<void> {
    if (manual && output !== undefined) await this.writeValue(this.map.manualOutput, output, this.map.outputScale, options);
    await this.modbus.writeRegister(this.map.mode.address, manual ? this.map.mode.manual : this.map.mode.auto, options);
  }

  /** Whether the controller runs and is in manual, as its registers say. */
  async readModes(options: ModbusRequestOptions): Promise<{ running: boolean; manual: boolean }> {
    const r = this.map.run;
    let running: boolean;
    if (r.kind === 'coil') running = (await this.modbus.readDiscreteInputs(r.address, 1, options))[0];
    else running = (await this.modbus.readHoldingRegisters(r.address, 1, options))[0] !== r.stop;
    const [mode] = await this.modbus.readHoldingRegisters(this.map.mode.address, 1, options);
    return { running, manual: mode === this.map.mode.manual };
  }
}
