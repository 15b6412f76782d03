import { GENERIC_FURNACE_MAP, GENERIC_SENSOR_BREAK_PV } from '../../devices/furnace/generic-map';
import type { FurnaceModel } from './furnace-model';
import { ModbusException } from './modbus-slave';
import { RegisterMap, floatWords, fromInt16, toInt16, wordsFloat } from './register-map';

/**
 * The register maps of the simulated furnace controllers, each as its real unit's Modbus
 * interface documents it (sources in each builder). What a builder could not verify is marked
 * ASSUMPTION. Every map serves the same `FurnaceModel` (°C); scaling and units are the map's.
 */

/** What a map needs besides the model: the unit's counters and configured facts. */
export interface FurnaceUnitState {
  readonly model: FurnaceModel;
  /** Writes that went to EEPROM (a real unit wears out after about 100 000). */
  eepromWrites: number;
}

export type FurnacePresetName = 'eurotherm-3216' | 'watlow-pm' | 'omega-cn7500' | 'generic';

export interface FurnaceMapOptions {
  /** Eurotherm: the configured resolution, decimals of temperatures (0–2). Default 1. */
  decimals?: number;
  /** The setpoint's range, °C. Default −200…1200 (a type K thermocouple's). */
  rangeLow?: number;
  rangeHigh?: number;
}

const c2f = (c: number) => c * 1.8 + 32;
const f2c = (f: number) => (f - 32) / 1.8;

/**
 * Eurotherm 3216 (3200 series), manual HA028651 §15.5: 16-bit signed integers with the
 * configured decimals implied (here `decimals`, default 1: 123.4 °C is 1234); outputs in % with
 * one decimal (ASSUMPTION: the manual's percentages show one decimal).
 * - 1 PV.IN (read-only); 2 TG.SP, target setpoint (EEPROM: the manual warns against writing it
 *   continuously; each write is counted); 3 MAN.OP, manual output; 4 WRK.OP, working output
 *   (read-only); 5 WKG.SP, working setpoint (read-only); 11/12 RNG.LO/RNG.HI, the input range
 *   (read-only here); 26 Rm.SP, the remote (comms) setpoint, RAM, in force while 276 is 1;
 *   35 SP.RAT, setpoint rate limit per minute, 0 = off (EEPROM; ASSUMPTION: address 35 from the
 *   3200 address list as we recall it, not re-checked); 75 StAt, status bits (b4 manual, b5 sensor
 *   break); 199 IM, instrument mode (0 normal, 1 standby: control outputs off; 2, configuration,
 *   is refused: the simulator has no configuration level); 273 A-M (0 auto, 1 manual); 276
 *   remote setpoint enable (0 local TG.SP, 1 remote Rm.SP).
 * - Sensor break: StAt bit 5 is set; PV reads −32768 (ASSUMPTION: what PV.IN reads during a
 *   sensor break is not in the sources we found; a value no range has).
 * - A setpoint outside RNG.LO…RNG.HI is refused with exception 03.
 * - Every parameter above is also an IEEE float at 0x8000 + 2 × its address (our reference, from
 *   the same manual), reading NaN for PV.IN during a sensor break (ASSUMPTION).
 */
export function eurotherm3216Map(unit: FurnaceUnitState, options: FurnaceMapOptions = {}): RegisterMap {
  const { model } = unit;
  const decimals = options.decimals ?? 1;
  const scale = 10 ** decimals;
  const low = options.rangeLow ?? -200;
  const high = options.rangeHigh ?? 1200;
  let local = model.target;
  let remote = model.target;
  let remoteEnabled = false;
  let standby = false;
  const apply = () => {
    model.target = remoteEnabled ? remote : local;
  };
  const temp = (c: number) => fromInt16(c * scale);
  const setpoint = (word: number) => toInt16(word) / scale;
  const inRange = (word: number) => setpoint(word) >= low && setpoint(word) <= high;
  const map = new RegisterMap()
    .word(1, { read: () => (model.sensorBroken ? 0x8000 : temp(model.temperatureC)) })
    .word(2, {
      read: () => temp(local),
      accepts: inRange,
      write: (w) => {
        unit.eepromWrites++;
        local = setpoint(w);
        apply();
      },
    })
    .word(3, { read: () => fromInt16(model.manualOutput * 10), accepts: (w) => toInt16(w) >= 0 && toInt16(w) <= 1000, write: (w) => (model.manualOutput = toInt16(w) / 10) })
    .word(4, { read: () => fromInt16(model.output * 10) })
    .word(5, { read: () => temp(model.working) })
    .word(11, { read: () => temp(low) })
    .word(12, { read: () => temp(high) })
    .word(26, {
      read: () => temp(remote),
      accepts: inRange,
      write: (w) => {
        remote = setpoint(w);
        apply();
      },
    })
    .word(35, {
      read: () => fromInt16(model.rampRate * scale),
      accepts: (w) => toInt16(w) >= 0,
      write: (w) => {
        unit.eepromWrites++;
        model.rampRate = toInt16(w) / scale;
      },
    })
    .word(75, { read: () => (model.manual ? 1 << 4 : 0) | (model.sensorBroken ? 1 << 5 : 0) })
    .word(199, {
      read: () => (standby ? 1 : 0),
      accepts: (w) => w === 0 || w === 1,
      write: (w) => {
        standby = w === 1;
        model.running = !standby;
      },
    })
    .word(273, { read: () => (model.manual ? 1 : 0), accepts: (w) => w === 0 || w === 1, write: (w) => (model.manual = w === 1) })
    .word(276, {
      read: () => (remoteEnabled ? 1 : 0),
      accepts: (w) => w === 0 || w === 1,
      write: (w) => {
        remoteEnabled = w === 1;
        apply();
      },
    });
  // The same parameters as IEEE floats at 0x8000 + 2 × address, full resolution, high word
  // first (ASSUMPTION for the word order): temperatures in degrees, outputs in %, the rest as
  // their plain value. A float is taken as the integer parameter would take it, rounded to the
  // configured resolution.
  const outputs = new Set([3, 4]);
  const temperatures = new Set([1, 2, 5, 11, 12, 26, 35]);
  for (const address of [1, 2, 3, 4, 5, 11, 12, 26, 35, 75, 199, 273, 276]) {
    const entry = map.wordAt(address)!;
    const factor = temperatures.has(address) ? scale : outputs.has(address) ? 10 : 1;
    const signed = factor !== 1;
    const asFloat = () => {
      if (address === 1 && model.sensorBroken) return NaN;
      const w = entry.read();
      return (signed ? toInt16(w) : w) / factor;
    };
    const asWord = (hi: number, lo: number) => {
      const v = wordsFloat(hi, lo);
      return Number.isFinite(v) ? fromInt16(v * factor) : NaN;
    };
    map.pair(
      0x8000 + 2 * address,
      () => floatWords(asFloat()),
      (hi, lo) => entry.write!(asWord(hi, lo)),
      (hi, lo) => entry.write !== undefined && Number.isFinite(asWord(hi, lo)) && (entry.accepts?.(asWord(hi, lo)) ?? true),
    );
  }
  return map;
}

/** Watlow EZ-ZONE PM enumerations (PM manual, Modbus appendix). */
export const WATLOW = {
  /**
   * Loop control mode (1880): 62 Off, 10 Auto, 54 Manual. The values are confirmed by an EPICS
   * driver for the PM (github.com/ornl-epics/watlow, watlowApp/Db/Watlow_PM_Loop.template), on a
   * PM family whose loop block starts at 2360 rather than 1880.
   */
  auto: 10,
  manual: 54,
  off: 62,
  /** Display/communication units (2490). */
  celsius: 15,
  fahrenheit: 30,
  /**
   * Analog input error (362): 61 None, 65 Open; the controller also reports 32 Fail, 127 Shorted,
   * 140 Measurement Error (github.com/ornl-epics/watlow, Watlow_PM_Analog_Input.template): anything
   * but 61 is an input error.
   */
  inputOk: 61,
  inputOpen: 65,
} as const;

/**
 * Watlow EZ-ZONE PM (Modbus option), PM manual Modbus appendix and numat/watlow: 32-bit IEEE
 * floats in two registers, low word first; enumerations (uint) in the first word of their pair
 * (the second reads 0). Temperatures are in °F over Modbus unless 2490 says °C.
 * - 360 analog input 1 PV (read-only); 362 its input error (61 none, 65 open; gregoryleblanc/CsHeater
 *   AnalogInput.md places it at 362); 1880 loop control mode (10 auto, 54 manual, 62 off);
 *   1904 heat power, % (read-only); 2160 closed-loop setpoint; 2162 open-loop setpoint, % (the
 *   output in manual); 2490 units (15 °C, 30 °F; default °F).
 * - Sensor break: 362 reads 65 (open) and PV holds its last good reading (ASSUMPTION).
 * - The setpoint ramp of the real unit is not simulated.
 */
export function watlowPmMap(unit: FurnaceUnitState, options: FurnaceMapOptions = {}): RegisterMap {
  const { model } = unit;
  const low = options.rangeLow ?? -200;
  const high = options.rangeHigh ?? 1200;
  let mode: number = WATLOW.auto;
  let units: number = WATLOW.fahrenheit;
  let lastPv = model.temperatureC;
  const toUnits = (c: number) => (units === WATLOW.fahrenheit ? c2f(c) : c);
  const fromUnits = (v: number) => (units === WATLOW.fahrenheit ? f2c(v) : v);
  const lowFirst = (value: number): [number, number] => {
    const [hi, lo] = floatWords(value);
    return [lo, hi];
  };
  const enumeration = (address: number, read: () => number, accepts: (v: number) => boolean, write: (v: number) => void, map: RegisterMap) =>
    map.word(address, { read, accepts, write }).word(address + 1, { read: () => 0, accepts: (w) => w === 0, write: () => undefined });
  const map = new RegisterMap()
    .pair(360, () => {
      if (!model.sensorBroken) lastPv = model.temperatureC;
      return lowFirst(toUnits(lastPv));
    })
    .pair(1904, () => lowFirst(model.output))
    .pair(
      2160,
      () => lowFirst(toUnits(model.target)),
      (lo, hi) => {
        const c = fromUnits(wordsFloat(hi, lo));
        if (!(c >= low && c <= high)) throw new ModbusException(3);
        model.target = c;
      },
    )
    .pair(
      2162,
      () => lowFirst(model.manualOutput),
      (lo, hi) => (model.manualOutput = wordsFloat(hi, lo)),
    );
  enumeration(362, () => (model.sensorBroken ? WATLOW.inputOpen : WATLOW.inputOk), () => false, () => undefined, map);
  enumeration(
    1880,
    () => mode,
    (v) => v === WATLOW.auto || v === WATLOW.manual || v === WATLOW.off,
    (v) => {
      mode = v;
      model.running = v !== WATLOW.off;
      model.manual = v === WATLOW.manual;
    },
    map,
  );
  enumeration(2490, () => units, (v) => v === WATLOW.celsius || v === WATLOW.fahrenheit, (v) => (units = v), map);
  return map;
}

/** Omega CN7500 PV error codes (what 0x1000 reads instead of a temperature). */
export const OMEGA_PV_ERRORS: Readonly<Record<number, string>> = {
  0x8002: 'initializing, no temperature yet',
  0x8003: 'input sensor not connected',
  0x8004: 'input signal error',
  0x8006: 'ADC failure',
};

/**
 * Omega CN7500 (pyhys/minimalmodbus omegacn7500.py; PV error codes from Omega's communication
 * error table): signed 16-bit integers, temperatures and outputs × 0.1.
 * - 0x1000 PV (read-only; 0x8003 "input sensor not connected" with a sensor break); 0x1001 SV;
 *   0x1002/0x1003 SV upper/lower limit (read-only here); 0x1005 control method (0 PID, 1 ON/OFF,
 *   2 manual tuning, 3 program: the simulator runs PID for 0, 1 and 3 and takes 2 as manual
 *   output, ASSUMPTION); 0x1012 output 1, % × 0.1 (written in manual; ASSUMPTION for the
 *   address); run/stop bit 0x0814, 1 = run (FC 1/2 read, FC 5 write).
 * - A setpoint outside the SV limits is refused with exception 03.
 */
export function omegaCn7500Map(unit: FurnaceUnitState, options: FurnaceMapOptions = {}): RegisterMap {
  const { model } = unit;
  const low = options.rangeLow ?? -200;
  const high = options.rangeHigh ?? 1200;
  let method = 0;
  const tenth = (v: number) => fromInt16(v * 10);
  return new RegisterMap()
    .word(0x1000, { read: () => (model.sensorBroken ? 0x8003 : tenth(model.temperatureC)) })
    .word(0x1001, { read: () => tenth(model.target), accepts: (w) => toInt16(w) / 10 >= low && toInt16(w) / 10 <= high, write: (w) => (model.target = toInt16(w) / 10) })
    .word(0x1002, { read: () => tenth(high) })
    .word(0x1003, { read: () => tenth(low) })
    .word(0x1005, {
      read: () => method,
      accepts: (w) => w <= 3,
      write: (w) => {
        method = w;
        model.manual = w === 2;
      },
    })
    .word(0x1012, { read: () => tenth(model.manual ? model.manualOutput : model.output), accepts: (w) => toInt16(w) >= 0 && toInt16(w) <= 1000, write: (w) => (model.manualOutput = toInt16(w) / 10) })
    .bit(0x0814, { read: () => model.running, write: (v) => (model.running = v) });
}

/** The generic map (`GENERIC_FURNACE_MAP`, shared with the driver's generic preset). */
export function genericFurnaceMap(unit: FurnaceUnitState, options: FurnaceMapOptions = {}): RegisterMap {
  const { model } = unit;
  const m = GENERIC_FURNACE_MAP;
  const low = options.rangeLow ?? -200;
  const high = options.rangeHigh ?? 1200;
  const word = (v: number) => fromInt16(v / m.scale);
  const value = (w: number) => toInt16(w) * m.scale;
  return new RegisterMap()
    .word(m.pv, { read: () => (model.sensorBroken ? GENERIC_SENSOR_BREAK_PV : word(model.temperatureC)) })
    .word(m.setpoint, { read: () => word(model.target), accepts: (w) => value(w) >= low && value(w) <= high, write: (w) => (model.target = value(w)) })
    .word(m.output, { read: () => word(model.output) })
    .word(m.mode, { read: () => (model.manual ? 1 : 0), accepts: (w) => w <= 1, write: (w) => (model.manual = w === 1) })
    .word(m.manualOutput, { read: () => word(model.manualOutput), accepts: (w) => value(w) >= 0 && value(w) <= 100, write: (w) => (model.manualOutput = value(w)) })
    .word(m.run, { read: () => (model.running ? 1 : 0), accepts: (w) => w <= 1, write: (w) => (model.running = w === 1) })
    .word(m.status, { read: () => (model.sensorBroken ? 1 : 0) });
}

export const FURNACE_MAPS: Readonly<Record<FurnacePresetName, (unit: FurnaceUnitState, options?: FurnaceMapOptions) => RegisterMap>> = {
  'eurotherm-3216': eurotherm3216Map,
  'watlow-pm': watlowPmMap,
  'omega-cn7500': omegaCn7500Map,
  generic: genericFurnaceMap,
};
