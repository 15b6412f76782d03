import type { OperationTable } from '../../device/operations';

const reading = '`{pv, setpoint, output, unit}`: PV and setpoint in the device\'s unit (`pv` null with a sensor break), output in %';

/**
 * The operations of a furnace temperature controller on Modbus. The editor form, validation and
 * help are derived from this table; the driver is `FurnaceDevice` in this folder. Temperatures
 * are in the device's configured unit (°C or °F), rates in that unit per minute; the limits
 * (lowest and highest setpoint, fastest ramp) are checked before anything is written.
 */
export const FURNACE_OPERATIONS: OperationTable = [
  {
    name: 'setpoint',
    label: 'Set setpoint',
    description: 'Write the setpoint at once, to the register the controller\'s manual recommends for frequent writes (never an EEPROM one).',
    params: [{ name: 'value', label: 'Setpoint', type: 'number', required: true, description: 'in the device\'s unit' }],
    result: '`{setpoint, unit}`',
  },
  {
    name: 'ramp',
    label: 'Ramp to setpoint',
    description:
      'Move the setpoint from the present temperature (PV) to the target at the rate given, written in steps by the driver, and end when the setpoint has reached the target. ' +
      'Progress shows the setpoint reached. Cancelled, it leaves the setpoint where the ramp had got to; an emergency stop also holds the present working setpoint.',
    params: [
      { name: 'to', label: 'Target', type: 'number', required: true, description: 'in the device\'s unit' },
      { name: 'rate', label: 'Rate', type: 'number', required: true, min: 0.001, description: 'degrees (device unit) per minute' },
    ],
    result: '`{setpoint, unit}`: the target',
  },
  {
    name: 'wait',
    label: 'Wait until stable',
    description:
      'Wait until the PV has stayed within ± band of the setpoint (or of `target`) for the dwell time, reading it every poll interval; fails after the timeout, and with a sensor break. Progress shows PV and how long it has held.',
    params: [
      { name: 'band', label: 'Band', type: 'number', min: 0, default: 2, description: '± degrees (device unit)' },
      { name: 'dwell', label: 'Dwell', type: 'number', min: 0, default: 60, unit: 's', description: 'how long the PV must stay within the band' },
      { name: 'timeout', label: 'Timeout', type: 'number', min: 0.001, default: 3600, unit: 's', description: 'fail if not stable by then' },
      { name: 'target', label: 'Target', type: 'number', description: 'the temperature to hold; default the controller\'s setpoint' },
    ],
    result: '`{pv, setpoint, unit, waitedS}`',
  },
  {
    name: 'read',
    label: 'Read',
    description: 'Read PV, setpoint and output now.',
    params: [],
    result: reading,
  },
  {
    name: 'run',
    label: 'Run',
    description: 'Start the control loop (the controller drives its output again).',
    params: [],
    result: '`{running: true}`',
  },
  {
    name: 'stop',
    label: 'Stop',
    description: 'Stop the control loop: the controller switches its heating output off (see the preset for how).',
    params: [],
    result: '`{running: false}`',
  },
  {
    name: 'auto',
    label: 'Auto',
    description: 'Automatic mode: the PID loop drives the output to the setpoint.',
    params: [],
    result: '`{mode: "auto"}`',
  },
  {
    name: 'manual',
    label: 'Manual',
    description: 'Manual mode with the output given (written before the switch).',
    params: [{ name: 'output', label: 'Output', type: 'number', required: true, min: 0, max: 100, unit: '%' }],
    result: '`{mode: "manual", output}`',
  },
];
