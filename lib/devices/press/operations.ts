import type { OperationTable, ParamSpec } from '../../device/operations';

const timeoutParam: ParamSpec = {
  name: 'timeoutMs',
  label: 'Timeout',
  type: 'integer',
  min: 1,
  max: 3_600_000,
  unit: 'ms',
  description: 'how long the cycle may take from cycle start to cycle done; default: the device\'s cycle timeout',
};

const holdParam: ParamSpec = {
  name: 'holdMs',
  label: 'Hold',
  type: 'integer',
  min: 0,
  max: 65_535,
  unit: 'ms',
  default: 500,
  description: 'how long the ram holds once the target is reached, before it retracts',
};

const cycleResult = '`{target, force, position, holdMs, cycleMs}`: the highest force (kN) and the deepest ram position (mm) of the cycle, as the PLC recorded them, and how long it took';

/**
 * The operations of a hydraulic press / spot welder PLC on Modbus. The editor form, validation
 * and help are derived from this table; the driver is `PressDevice` in this folder.
 */
export const PRESS_OPERATIONS: OperationTable = [
  {
    name: 'cycle',
    label: 'Press cycle',
    description:
      'Press to a force or to a ram position, hold, retract. Refused before anything is written when an interlock is open (guard, light curtain, two-hand start), ' +
      'the PLC reports a fault or the ram is not at the top. The interlocks are watched during the cycle: one that opens stops the cycle with the PLC\'s stop coil, and trips the cell when the device is critical.',
    params: [
      { name: 'target', label: 'Press to', type: 'enum', values: ['force', 'position'], default: 'force', description: 'stop pressing at a force or at a ram position' },
      { name: 'force', label: 'Force', type: 'number', min: 0, unit: 'kN', requiredWhen: { param: 'target', equals: 'force' }, description: 'the target force' },
      { name: 'position', label: 'Position', type: 'number', min: 0, unit: 'mm', requiredWhen: { param: 'target', equals: 'position' }, description: 'the target ram position, mm below the top' },
      holdParam,
      timeoutParam,
    ],
    result: cycleResult,
    moves: true,
  },
  {
    name: 'weld',
    label: 'Spot weld',
    description:
      'Close the electrodes on the part to a force, pass the weld current for the weld time, hold, retract. The PLC passes current only with weld enable on and the electrodes closed; ' +
      'weld enable is switched off again when the weld ends, however it ends. Interlocks are checked and watched as for a press cycle.',
    params: [
      { name: 'force', label: 'Electrode force', type: 'number', min: 0, unit: 'kN', required: true },
      { name: 'current', label: 'Weld current', type: 'number', min: 0, unit: 'kA', required: true },
      { name: 'timeMs', label: 'Weld time', type: 'integer', min: 1, max: 65_535, unit: 'ms', required: true },
      { ...holdParam, default: 200, description: 'how long the electrodes hold after the current, before they open' },
      timeoutParam,
    ],
    result: '`{force, current, timeMs, weldCurrent, cycleMs}`: the settings and the highest weld current read during the weld (kA; 0 when the weld was too short to be read)',
    moves: true,
  },
  {
    name: 'retract',
    label: 'Retract',
    description: 'Bring the ram back to the top (after a stopped cycle), confirmed by the ram-at-top input.',
    params: [{ ...timeoutParam, description: 'how long to wait for the ram at the top; default: the device\'s retract timeout' }],
    result: '`{position}`: the ram position once at the top (mm)',
    moves: true,
  },
  {
    name: 'read',
    label: 'Read',
    description: 'Read the ram, force, weld current, the interlocks and the PLC\'s state and fault.',
    params: [],
    result: '`{position, force, weldCurrent, ramAtTop, cycleDone, fault, faultCode, state, interlocks: {guard, lightCurtain, twoHand}}` (mm, kN, kA; an interlock is true when closed)',
  },
  {
    name: 'reset',
    label: 'Reset fault',
    description: 'Clear the PLC\'s fault (an interlock that opened mid-cycle, an overload) with its fault reset coil. Refused while an interlock is open.',
    params: [],
    result: '`{faultCode}`: 0 once cleared',
  },
];
