import { GENERIC_FURNACE_MAP } from './generic-map';

/** How a controller encodes temperatures and outputs in its registers. */
export type FurnaceNumberFormat = 'int16' | 'float32';
/** Which register of a 32-bit value comes first. */
export type WordOrder = 'low-first' | 'high-first';
export type TemperatureUnit = 'C' | 'F';

/** How the controller runs and stops its control output. */
export type FurnaceRunControl =
  /** A register with one value for run and one for stop. */
  | { kind: 'register'; address: number; run: number; stop: number }
  /** A bit, 1 = run (FC 5 to write, FC 2 to read). */
  | { kind: 'coil'; address: number };

/** How the controller reports a broken sensor. */
export type FurnaceSensorBreak =
  /** A bit of a status register. */
  | { kind: 'status-bit'; address: number; bit: number }
  /** The PV register reads one of these codes (raw words) instead of a temperature. */
  | { kind: 'pv-codes'; codes: Readonly<Record<number, string>> }
  /** An input error register that reads `ok` while the sensor is whole. */
  | { kind: 'error-register'; address: number; ok: number };

/**
 * A furnace controller's register map as the driver uses it. Addresses are 0-based protocol
 * addresses of holding registers (read with FC 3, written with FC 6, or FC 16 for 32-bit values).
 */
export interface FurnaceRegisterMap {
  format: FurnaceNumberFormat;
  /** For `float32`. */
  wordOrder: WordOrder;
  /** For `int16`: a temperature is its word × this (0.1: one implied decimal). */
  temperatureScale: number;
  /** For `int16`: an output % is its word × this. */
  outputScale: number;
  /** The unit of the controller's temperatures, unless `unitsRegister` says. */
  temperatureUnit: TemperatureUnit;
  /** A register saying the controller's unit (read at each session start). */
  unitsRegister?: { address: number; celsius: number; fahrenheit: number };
  pv: number;
  /** The setpoint register meant for frequent writes (RAM, not EEPROM). */
  setpoint: number;
  /** Written once per session before the first setpoint write, when the setpoint register needs enabling. */
  setpointEnable?: { address: number; value: number };
  /** The working setpoint (where an internal ramp is), read-only; absent: the setpoint register. */
  workingSetpoint?: number;
  /** The heater output now, %. */
  output: number;
  /** The output in manual mode, %. */
  manualOutput: number;
  mode: { address: number; auto: number; manual: number };
  run: FurnaceRunControl;
  sensorBreak: FurnaceSensorBreak;
}

export type FurnacePresetName = 'eurotherm-3216' | 'watlow-pm' | 'omega-cn7500' | 'generic';

export interface FurnacePreset {
  name: FurnacePresetName;
  label: string;
  map: FurnaceRegisterMap;
  /** What `safe` can do to stop the controller, for the help and the safe routine's sentence. */
  stopNote: string;
}

/**
 * The presets, from each controller's Modbus documentation (the simulators in
 * lib/simulators/modbus/furnace-maps.ts serve the same registers and cite their sources).
 */
export const FURNACE_PRESETS: Readonly<Record<FurnacePresetName, FurnacePreset>> = {
  'eurotherm-3216': {
    name: 'eurotherm-3216',
    label: 'Eurotherm 3216',
    map: {
      format: 'int16',
      wordOrder: 'high-first',
      // One decimal: the resolution the unit must be configured with for this preset (dEC.P).
      temperatureScale: 0.1,
      outputScale: 0.1,
      temperatureUnit: 'C',
      pv: 1,
      // TG.SP (2) is in EEPROM (about 100 000 writes); the manual recommends the comms setpoint.
      setpoint: 26,
      setpointEnable: { address: 276, value: 1 },
      workingSetpoint: 5,
      output: 4,
      manualOutput: 3,
      mode: { address: 273, auto: 0, manual: 1 },
      run: { kind: 'register', address: 199, run: 0, stop: 1 },
      sensorBreak: { kind: 'status-bit', address: 75, bit: 5 },
    },
    stopNote: 'instrument mode standby (IM 199 = 1: control outputs off)',
  },
  'watlow-pm': {
    name: 'watlow-pm',
    label: 'Watlow EZ-ZONE PM',
    map: {
      format: 'float32',
      wordOrder: 'low-first',
      temperatureScale: 1,
      outputScale: 1,
      temperatureUnit: 'F',
      unitsRegister: { address: 2490, celsius: 15, fahrenheit: 30 },
      pv: 360,
      setpoint: 2160,
      output: 1904,
      manualOutput: 2162,
      mode: { address: 1880, auto: 10, manual: 54 },
      run: { kind: 'register', address: 1880, run: 10, stop: 62 },
      sensorBreak: { kind: 'error-register', address: 362, ok: 61 },
    },
    stopNote: 'loop control mode Off (1880 = 62)',
  },
  'omega-cn7500': {
    name: 'omega-cn7500',
    label: 'Omega CN7500',
    map: {
      format: 'int16',
      wordOrder: 'high-first',
      temperatureScale: 0.1,
      outputScale: 0.1,
      temperatureUnit: 'C',
      pv: 0x1000,
      setpoint: 0x1001,
      output: 0x1012,
      manualOutput: 0x1012,
      mode: { address: 0x1005, auto: 0, manual: 2 },
      run: { kind: 'coil', address: 0x0814 },
      sensorBreak: {
        kind: 'pv-codes',
        codes: { 0x8002: 'initializing, no temperature yet', 0x8003: 'input sensor not connected', 0x8004: 'input signal error', 0x8006: 'ADC failure' },
      },
    },
    stopNote: 'run/stop bit 0x0814 cleared (stop)',
  },
  generic: {
    name: 'generic',
    label: 'generic controller',
    map: {
      format: 'int16',
      wordOrder: 'high-first',
      temperatureScale: GENERIC_FURNACE_MAP.scale,
      outputScale: GENERIC_FURNACE_MAP.scale,
      temperatureUnit: 'C',
      pv: GENERIC_FURNACE_MAP.pv,
      setpoint: GENERIC_FURNACE_MAP.setpoint,
      output: GENERIC_FURNACE_MAP.output,
      manualOutput: GENERIC_FURNACE_MAP.manualOutput,
      mode: { address: GENERIC_FURNACE_MAP.mode, auto: 0, manual: 1 },
      run: { kind: 'register', address: GENERIC_FURNACE_MAP.run, run: 1, stop: 0 },
      sensorBreak: { kind: 'status-bit', address: GENERIC_FURNACE_MAP.status, bit: 0 },
    },
    stopNote: 'run register 0 (stop)',
  },
};

/** The preset by name; a RangeError naming the choices otherwise. */
export function furnacePreset(name: string | undefined): FurnacePreset {
  const preset = FURNACE_PRESETS[(name || 'generic') as FurnacePresetName];
  if (!preset) throw new RangeError(`unknown furnace preset ${JSON.stringify(name)}; expected one of ${Object.keys(FURNACE_PRESETS).join(', ')}`);
  return preset;
}
