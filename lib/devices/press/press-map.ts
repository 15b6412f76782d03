import { showValue } from '../../errors/workcell-error';

/** The PLC's coils the driver writes (0-based protocol addresses). */
export interface PressCoils {
  cycleStart: number;
  stop: number;
  retract: number;
  weldEnable: number;
  faultReset: number;
}

/** The PLC's discrete inputs the driver reads. */
export interface PressInputs {
  cycleDone: number;
  ramAtTop: number;
  guardClosed: number;
  lightCurtainClear: number;
  twoHandStart: number;
  fault: number;
}

/** The PLC's holding registers the driver writes. */
export interface PressHoldingRegisters {
  targetForce: number;
  targetPosition: number;
  holdTime: number;
  weldCurrent: number;
  weldTime: number;
  mode: number;
}

/** The PLC's input registers the driver reads. */
export interface PressInputRegisters {
  ramPosition: number;
  force: number;
  weldCurrent: number;
  state: number;
  faultCode: number;
  /** The highest force of the cycle running or last run. */
  peakForce: number;
  /** The deepest ram position of the cycle running or last run. */
  bottomPosition: number;
}

/**
 * Engineering units per register count (a register holds value / scale): force in kN, position in
 * mm, current in kA. Hold and weld times are whole ms.
 */
export interface PressScaling {
  forceKn: number;
  positionMm: number;
  currentKa: number;
}

/** Where the press PLC keeps what the driver needs, and how it scales it. */
export interface PressMap {
  coils: PressCoils;
  inputs: PressInputs;
  holding: PressHoldingRegisters;
  inputRegisters: PressInputRegisters;
  scaling: PressScaling;
  /** The `mode` register's value for a cycle to a force, and to a position. */
  modes: { force: number; position: number };
}

/** A map given in part: each group's fields replace the defaults'. */
export type PressMapOverrides = { [K in keyof PressMap]?: Partial<PressMap[K]> };

/**
 * The default map: the one the press PLC simulator (lib/simulators/modbus/press-plc.ts) is
 * programmed with, as a PLC integrator would document it: coils 0–4, discrete inputs 0–5,
 * holding registers 0–5 and input registers 0–4, 6 and 7, force in 0.1 kN, position in 0.1 mm, current in
 * 0.01 kA, mode 0 to a force and 1 to a position.
 */
export const DEFAULT_PRESS_MAP: PressMap = {
  coils: { cycleStart: 0, stop: 1, retract: 2, weldEnable: 3, faultReset: 4 },
  inputs: { cycleDone: 0, ramAtTop: 1, guardClosed: 2, lightCurtainClear: 3, twoHandStart: 4, fault: 5 },
  holding: { targetForce: 0, targetPosition: 1, holdTime: 2, weldCurrent: 3, weldTime: 4, mode: 5 },
  inputRegisters: { ramPosition: 0, force: 1, weldCurrent: 2, state: 3, faultCode: 4, peakForce: 6, bottomPosition: 7 },
  scaling: { forceKn: 0.1, positionMm: 0.1, currentKa: 0.01 },
  modes: { force: 0, position: 1 },
};

/**
 * The map with `overrides` applied over the defaults, checked: only the default map's groups and
 * entries (a misspelt one is refused, not ignored), every address a whole number
 * 0–65535, no two entries of one table at the same address, every scale a positive finite
 * number, the two modes different whole numbers 0–65535. A RangeError names the device, the
 * entry and the value.
 */
export function resolvePressMap(device: string, overrides: PressMapOverrides = {}): PressMap {
  // A misspelt entry must not leave the default in place silently.
  for (const [group, entries] of Object.entries(overrides) as [string, unknown][]) {
    const known = (DEFAULT_PRESS_MAP as unknown as Record<string, Record<string, unknown> | undefined>)[group];
    if (!known) throw new RangeError(`${device}: the map has no group ${showValue(group)} (expected ${Object.keys(DEFAULT_PRESS_MAP).join(', ')})`);
    if (entries === undefined) continue;
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw new RangeError(`${device}: the map's ${group} must be an object of entries, got ${showValue(entries)}`);
    for (const entry of Object.keys(entries)) {
      if (!(entry in known)) throw new RangeError(`${device}: the map's ${group} has no entry ${showValue(entry)} (expected ${Object.keys(known).join(', ')})`);
    }
  }
  const map: PressMap = {
    coils: { ...DEFAULT_PRESS_MAP.coils, ...overrides.coils },
    inputs: { ...DEFAULT_PRESS_MAP.inputs, ...overrides.inputs },
    holding: { ...DEFAULT_PRESS_MAP.holding, ...overrides.holding },
    inputRegisters: { ...DEFAULT_PRESS_MAP.inputRegisters, ...overrides.inputRegisters },
    scaling: { ...DEFAULT_PRESS_MAP.scaling, ...overrides.scaling },
    modes: { ...DEFAULT_PRESS_MAP.modes, ...overrides.modes },
  };
  for (const table of ['coils', 'inputs', 'holding', 'inputRegisters'] as const) {
    const at = new Map<number, string>();
    for (const [entry, address] of Object.entries(map[table]) as [string, unknown][]) {
      if (!(typeof address === 'number' && Number.isInteger(address) && address >= 0 && address <= 0xffff)) {
        throw new RangeError(`${device}: the map's ${table}.${entry} must be an address 0–65535, got ${showValue(address)}`);
      }
      const other = at.get(address);
      if (other) throw new RangeError(`${device}: the map's ${table}.${entry} and ${table}.${other} are both at address ${address}`);
      at.set(address, entry);
    }
  }
  for (const [entry, scale] of Object.entries(map.scaling) as [string, unknown][]) {
    if (!(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) throw new RangeError(`${device}: the map's scaling.${entry} must be a number above 0, got ${showValue(scale)}`);
  }
  for (const [entry, value] of Object.entries(map.modes) as [string, unknown][]) {
    if (!(typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff)) throw new RangeError(`${device}: the map's modes.${entry} must be a register value 0–65535, got ${showValue(value)}`);
  }
  if (map.modes.force === map.modes.position) throw new RangeError(`${device}: the map's modes.force and modes.position are both ${map.modes.force}`);
  return map;
}
