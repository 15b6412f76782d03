import { FURNACE_PRESETS } from '../../lib/devices/furnace/presets';
import { GENERIC_FURNACE_MAP } from '../../lib/devices/furnace/generic-map';
import { deviceFields } from './device-fields';
import { choice, configNode, number, onlyWhen, optionalNumber, optionalSeconds, seconds, type BetweenFields, type SavedNode } from './editor-fields';

/** The generic map's fields apply only with the generic preset (a preset's own map is fixed). */
const isGeneric = (node: SavedNode) => (node.preset ?? 'generic') === 'generic';
const register = (label: string, defaultValue: number) => onlyWhen(isGeneric, number(label, { min: 0, max: 65535, integer: true, default: defaultValue }));

/**
 * The fields of the `workcell-furnace-device` config node (nodes/furnace.ts, nodes/furnace.html):
 * the bus and unit id instead of a connection, the preset, the generic map, limits, safe setpoint
 * and telemetry. Ranges are the editor's; change both together.
 */
export const FURNACE_DEVICE_FIELDS = deviceFields(
  {
    bus: configNode('Modbus bus'),
    unitId: number('unit id', { min: 1, max: 255, integer: true, default: 1 }),
    preset: choice('preset', Object.keys(FURNACE_PRESETS), 'generic'),
    unit: choice('unit', ['C', 'F'], 'C'),
    minSetpoint: number('lowest setpoint', { default: 0 }),
    maxSetpoint: number('highest setpoint', { default: 1200 }),
    maxRampRate: number('fastest ramp rate', { min: 0, aboveMin: true, default: 600 }),
    safeSetpoint: optionalNumber('safe setpoint', { blankMeans: 'the lowest setpoint' }),
    telemetryInterval: seconds('telemetry period', { min: 0, max: 86_400, default: 1, note: ' (0 for off)' }),
    timeout: optionalSeconds('reply timeout', { min: 0.001, max: 60, blankMeans: "the bus's" }),
    format: onlyWhen(isGeneric, choice('number format', ['int16', 'float32'], 'int16')),
    wordOrder: onlyWhen(isGeneric, choice('word order', ['high-first', 'low-first'], 'high-first')),
    scale: onlyWhen(isGeneric, number('scale', { min: 0, aboveMin: true, default: GENERIC_FURNACE_MAP.scale })),
    controllerUnit: onlyWhen(isGeneric, choice('controller unit', ['C', 'F'], 'C')),
    pvRegister: register('PV register', GENERIC_FURNACE_MAP.pv),
    setpointRegister: register('setpoint register', GENERIC_FURNACE_MAP.setpoint),
    outputRegister: register('output register', GENERIC_FURNACE_MAP.output),
    modeRegister: register('mode register', GENERIC_FURNACE_MAP.mode),
    manualOutputRegister: register('manual output register', GENERIC_FURNACE_MAP.manualOutput),
    runRegister: register('run register', GENERIC_FURNACE_MAP.run),
    statusRegister: register('status register', GENERIC_FURNACE_MAP.status),
    sensorBreakBit: onlyWhen(isGeneric, number('sensor break bit', { min: 0, max: 15, integer: true, default: 0 })),
  },
  (v) => {
    const problems: BetweenFields[] = [];
    if (!(v.minSetpoint < v.maxSetpoint)) {
      problems.push({ field: 'highest setpoint', sentence: `highest setpoint (${v.maxSetpoint}) must be above the lowest (${v.minSetpoint})` });
    } else if (v.safeSetpoint !== undefined && (v.safeSetpoint < v.minSetpoint || v.safeSetpoint > v.maxSetpoint)) {
      problems.push({ field: 'safe setpoint', sentence: `safe setpoint (${v.safeSetpoint}) must be within the setpoint limits ${v.minSetpoint}…${v.maxSetpoint}` });
    }
    return problems;
  },
);
