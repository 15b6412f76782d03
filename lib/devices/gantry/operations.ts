import type { OperationTable, ParamSpec } from '../../device/operations';

/** Longest travel a single parameter may name; real limits come from the device's soft limits. */
const TRAVEL = 100_000;

const axis = (name: 'x' | 'y' | 'z', what: string): ParamSpec => ({
  name,
  label: name.toUpperCase(),
  type: 'number',
  min: -TRAVEL,
  max: TRAVEL,
  unit: 'mm',
  description: what,
});

const feed = (required: boolean): ParamSpec => ({
  name: 'feed',
  label: 'Feed rate',
  type: 'number',
  min: 0.001,
  max: 1_000_000,
  unit: 'mm/min',
  required,
  ...(required ? {} : { requiredWhen: { param: 'rapid', equals: false } }),
  description: required ? 'jogs always need a feed rate' : 'needed for a G1 move (GRBL has no default feed); ignored for G0, which runs at the machine\'s max rate',
});

const coordinates: ParamSpec = {
  name: 'coordinates',
  label: 'Coordinates',
  type: 'enum',
  values: ['work', 'machine'],
  default: 'work',
  description: 'absolute targets in work coordinates (the active G54…G59 system and offsets) or machine coordinates (G53); relative moves ignore it',
};

const position = '`{state, machine: {x, y, z}, work: {x, y, z}}` — the machine state and position once the motion has ended';

/**
 * The operations of a GRBL 1.1 / grblHAL gantry (CNC router, laser, pick-and-place). The
 * editor form, validation and help come from this table; the driver is `GrblGantry`.
 * Soft limits (machine coordinates) are checked before anything is sent; moving operations are
 * refused while the position is untrusted (after a reset during motion) until `home`.
 */
export const GANTRY_OPERATIONS: OperationTable = [
  {
    name: 'home',
    label: 'Home',
    description:
      'Run the homing cycle (`$H`). Allowed in the alarm state; afterwards the position is trusted again and moves are accepted. ' +
      'GRBL answers only when the cycle has ended, and sends no status reports meanwhile.',
    params: [{ name: 'timeoutMs', label: 'Timeout', type: 'integer', min: 1000, max: 3_600_000, default: 120_000, unit: 'ms', description: 'longest the homing cycle may take' }],
    result: position,
  },
  {
    name: 'move',
    label: 'Move',
    moves: true,
    atLeastOne: ['x', 'y', 'z'],
    description:
      'Move to a position (absolute) or by a distance (relative), with G1 at the feed rate or G0 rapid. Axes not given stay where they are. ' +
      'The step ends when the motion has ended (`G4 P0` after the move). The target is checked against the soft limits first.',
    params: [
      { name: 'mode', label: 'Mode', type: 'enum', values: ['absolute', 'relative'], default: 'absolute' },
      axis('x', 'target (absolute) or distance (relative)'),
      axis('y', 'target (absolute) or distance (relative)'),
      axis('z', 'target (absolute) or distance (relative)'),
      feed(false),
      { name: 'rapid', label: 'Rapid (G0)', type: 'boolean', default: false, description: 'G0 at the maximum rate instead of G1 at the feed rate' },
      coordinates,
    ],
    result: position,
  },
  {
    name: 'jog',
    label: 'Jog',
    moves: true,
    atLeastOne: ['x', 'y', 'z'],
    description:
      'Jog (`$J=`): a motion GRBL can cancel at once without losing position (jog cancel, 0x85). Relative by default. ' +
      'The step ends when the jog has ended; cancelling it sends jog cancel.',
    params: [
      { name: 'mode', label: 'Mode', type: 'enum', values: ['relative', 'absolute'], default: 'relative' },
      axis('x', 'distance (relative) or target (absolute)'),
      axis('y', 'distance (relative) or target (absolute)'),
      axis('z', 'distance (relative) or target (absolute)'),
      feed(true),
      coordinates,
    ],
    result: position,
  },
  {
    name: 'program',
    label: 'Run program',
    moves: true,
    description:
      'Stream a G-code program, from the message (`gcode`) or a file in the device\'s program folder (`file`), with character counting: as many lines as fit ' +
      'in GRBL\'s 128-byte receive buffer are in flight. Comments and spaces are removed. Every motion line is checked against the soft limits before the first ' +
      'line is sent, an arc (G2/G3) over its whole extent. Progress (lines acknowledged) shows in the node status. The step ends when the last motion has ended. An `error:N` stops the program (feed hold, then reset).',
    params: [
      { name: 'gcode', label: 'G-code', type: 'string', maxLength: 10_000_000, description: 'the program text, one block per line' },
      { name: 'file', label: 'File', type: 'string', maxLength: 1024, description: 'a file name inside the device\'s program folder (instead of `gcode`)' },
    ],
    result: '`{lines, state, machine: {x, y, z}, work: {x, y, z}}` — the number of lines sent and the position at the end',
  },
  {
    name: 'spindle',
    label: 'Spindle / laser',
    description:
      'Switch the spindle (or laser) on at a speed and direction (`M3`/`M4 S…`) or off (`M5`). In GRBL\'s laser mode `M4` is dynamic laser power. ' +
      'GRBL changes the spindle only once the motion before it has ended.',
    params: [
      { name: 'on', label: 'On', type: 'boolean', required: true },
      { name: 'speed', label: 'Speed', type: 'number', min: 0, max: 1_000_000, unit: 'rpm', description: 'spindle speed (or laser power in S units); required to switch on' },
      { name: 'direction', label: 'Direction', type: 'enum', values: ['cw', 'ccw'], default: 'cw', description: 'cw = M3, ccw = M4 (dynamic laser power in laser mode)' },
    ],
    result: '`{on, speed, direction}`',
  },
  {
    name: 'status',
    label: 'Read status',
    description: 'Ask for a status report now (`?`) and return it.',
    params: [],
    result: '`{state, machine, work, feed, spindle, positionTrusted, alarm}` — `alarm` is the last `ALARM:N` while GRBL is in the alarm state, else null',
  },
  {
    name: 'unlock',
    label: 'Unlock',
    description:
      'Clear GRBL\'s alarm lock (`$X`) without homing. Refused unless the device allows unlocking: the position stays untrusted, so moves are still refused until `home`.',
    params: [],
    result: '`{state}`',
  },
];
