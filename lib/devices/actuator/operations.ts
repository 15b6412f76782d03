import type { OperationTable, ParamSpec } from '../../device/operations';

const timeoutParam: ParamSpec = {
  name: 'timeoutMs',
  label: 'Timeout',
  type: 'integer',
  min: 1,
  max: 600_000,
  unit: 'ms',
  description: 'how long the switch may take to close; default: the device\'s travel timeout',
};

const moved = '`{position, ms}`: `extended` or `retracted`, and how long the switch took to close';

/**
 * The operations of a pneumatic actuator (a cylinder or gripper on a solenoid valve, with limit
 * switches) on a Modbus I/O module. The driver is `ActuatorDevice` in this folder.
 */
export const ACTUATOR_OPERATIONS: OperationTable = [
  {
    name: 'extend',
    label: 'Extend',
    description: 'Switch the valve to extend and wait for the extended switch to close; fails naming the switch if it does not close within the timeout.',
    params: [timeoutParam],
    result: moved,
    moves: true,
  },
  {
    name: 'retract',
    label: 'Retract',
    description: 'Switch the valve to retract and wait for the retracted switch to close; fails naming the switch if it does not close within the timeout.',
    params: [timeoutParam],
    result: moved,
    moves: true,
  },
  {
    name: 'vent',
    label: 'Vent',
    description: 'Both solenoids off (double-solenoid valves only): with a centre-exhaust valve the cylinder stops where it is and can be moved by hand. Refused for a single-solenoid valve, which has no such position.',
    params: [],
    result: '`{position}`: where the switches say the cylinder is',
  },
  {
    name: 'read',
    label: 'Read',
    description: 'Read the limit switches and the valve coils.',
    params: [],
    result: '`{position, extended, retracted, valve: {extend, retract}}`: position is `extended`, `retracted`, `between` or `both switches closed` (a switch fault); `retract` is absent for a single-solenoid valve',
  },
];
