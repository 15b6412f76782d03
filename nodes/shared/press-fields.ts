import { resolvePressMap, type PressMapOverrides } from '../../lib/devices/press/press-map';
import { describeError } from '../../lib/scope/reasons';
import { deviceFields } from './device-fields';
import { FieldProblem, choice, configNode, flag, milliseconds, number, optionalSeconds, seconds, text, type BetweenFields } from './editor-fields';

/** The Modbus device fields: the bus node and the unit id on it, instead of a connection. */
const onBus = {
  bus: configNode('Modbus bus'),
  unitId: number('unit id', { min: 1, max: 255, integer: true, default: 1 }),
};

/**
 * The press PLC's map as JSON overrides of the default map (`DEFAULT_PRESS_MAP`), blank for the
 * default; checked as the driver checks it (addresses 0–65535, none twice in a table).
 */
const pressMap = text('register map', {}, (t): PressMapOverrides | undefined => {
  if (t.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    throw new FieldProblem('the JSON of map overrides, e.g. {"coils": {"stop": 10}}, or blank for the default map');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FieldProblem('an object of map overrides, e.g. {"coils": {"stop": 10}}, or blank');
  try {
    resolvePressMap('register map', parsed as PressMapOverrides);
  } catch (err) {
    throw new FieldProblem('', describeError(err));
  }
  return parsed as PressMapOverrides;
});

/**
 * The fields of the `workcell-press-device` config node (nodes/press.ts, nodes/press.html): the
 * bus and unit id, the interlocks enforced, the limits, the map, timing. Ranges are the
 * editor's; change both together.
 */
export const PRESS_DEVICE_FIELDS = deviceFields(
  {
    ...onBus,
    guard: flag('guard interlock', true),
    lightCurtain: flag('light curtain interlock', true),
    twoHand: flag('two-hand start interlock', true),
    maxForce: number('maximum force', { min: 0, aboveMin: true, default: 400 }),
    maxCurrent: number('maximum weld current', { min: 0, default: 25 }),
    maxWeldTime: milliseconds('maximum weld time', { min: 0, max: 65_535, integer: true, default: 2000 }),
    minPosition: number('lowest position', { min: 0, default: 0 }),
    maxPosition: number('highest position', { min: 0, default: 150 }),
    map: pressMap,
    watchInterval: milliseconds('interlock watch period', { min: 5, max: 1000, integer: true, default: 20 }),
    cycleTimeout: seconds('cycle timeout', { min: 0.001, max: 3600, default: 30 }),
    retractTimeout: seconds('retract timeout', { min: 0.001, max: 3600, default: 10 }),
    timeout: optionalSeconds('reply timeout', { min: 0.001, max: 60, blankMeans: "the bus's" }),
    telemetryInterval: seconds('telemetry period', { min: 0, max: 86_400, default: 0, note: ' (0 for off)' }),
  },
  (v) => {
    const problems: BetweenFields[] = [];
    if (v.minPosition > v.maxPosition) problems.push({ field: 'highest position', sentence: `highest position (${v.maxPosition} mm) must not be below the lowest (${v.minPosition} mm)` });
    if (v.telemetryInterval > 0 && v.telemetryInterval < 20) problems.push({ field: 'telemetry period', sentence: `telemetry period (${v.telemetryInterval / 1000} s) must be 0 (off) or at least 0.02 s` });
    return problems;
  },
);

/**
 * The fields of the `workcell-actuator-device` config node (nodes/actuator.ts,
 * nodes/actuator.html): the bus and unit id, the valve and its coils, the switches, the travel
 * timeout and the safe state.
 */
export const ACTUATOR_DEVICE_FIELDS = deviceFields(
  {
    ...onBus,
    valve: choice('valve', ['single', 'double'], 'single'),
    extendCoil: number('extend coil', { min: 0, max: 65_535, integer: true, default: 0 }),
    retractCoil: number('retract coil', { min: 0, max: 65_535, integer: true, default: 1 }),
    extendedInput: number('extended switch input', { min: 0, max: 65_535, integer: true, default: 0 }),
    retractedInput: number('retracted switch input', { min: 0, max: 65_535, integer: true, default: 1 }),
    travelTimeout: milliseconds('travel timeout', { min: 1, max: 600_000, integer: true, default: 2000 }),
    pollInterval: milliseconds('switch poll period', { min: 1, max: 10_000, integer: true, default: 10 }),
    safeState: choice('safe state', ['retract', 'vent', 'hold'], 'retract'),
    timeout: optionalSeconds('reply timeout', { min: 0.001, max: 60, blankMeans: "the bus's" }),
  },
  (v) => {
    const problems: BetweenFields[] = [];
    if (v.valve === 'double' && v.extendCoil === v.retractCoil) problems.push({ field: 'retract coil', sentence: `retract coil (${v.retractCoil}) must differ from the extend coil` });
    if (v.extendedInput === v.retractedInput) problems.push({ field: 'retracted switch input', sentence: `retracted switch input (${v.retractedInput}) must differ from the extended switch input` });
    if (v.valve === 'single' && v.safeState === 'vent') problems.push({ field: 'safe state', sentence: 'safe state "vent" needs a double-solenoid valve: a single-solenoid valve has no vent position' });
    return problems;
  },
);
