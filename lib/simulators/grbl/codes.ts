/**
 * Numeric codes and fixed strings of GRBL 1.1h, with the numbers taken from
 * gnea/grbl doc/csv/error_codes_en_US.csv, alarm_codes_en_US.csv and config.h.
 * Descriptions are paraphrased for readability; the numbers are what goes on the wire.
 */

/** `error:N` status codes a line can be answered with. */
export const ErrorCode = {
  ExpectedCommandLetter: 1,
  BadNumberFormat: 2,
  InvalidStatement: 3,
  NegativeValue: 4,
  SettingDisabled: 5,
  StepPulseTooShort: 6,
  SettingReadFail: 7,
  IdleError: 8,
  SystemGcLock: 9,
  SoftLimitError: 10,
  Overflow: 11,
  MaxStepRateExceeded: 12,
  CheckDoor: 13,
  LineLengthExceeded: 14,
  TravelExceeded: 15,
  InvalidJogCommand: 16,
  SettingDisabledLaser: 17,
  UnsupportedCommand: 20,
  ModalGroupViolation: 21,
  UndefinedFeedRate: 22,
  CommandValueNotInteger: 23,
  AxisCommandConflict: 24,
  WordRepeated: 25,
  NoAxisWords: 26,
  InvalidLineNumber: 27,
  ValueWordMissing: 28,
  UnsupportedCoordSys: 29,
  G53InvalidMotionMode: 30,
  AxisWordsExist: 31,
  NoAxisWordsInPlane: 32,
  InvalidTarget: 33,
  ArcRadiusError: 34,
  NoOffsetsInPlane: 35,
  UnusedWords: 36,
  G43DynamicAxisError: 37,
  MaxValueExceeded: 38,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Human-readable meaning of each error code, for logs and driver error messages. */
export const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  1: 'A G-code word has no letter.',
  2: 'A word value is missing or is not a valid number.',
  3: 'The $ system command is not recognised or supported.',
  4: 'A value that must be positive is negative.',
  5: 'Homing is not enabled in the settings.',
  6: 'The step pulse must be at least 3 microseconds.',
  7: 'EEPROM read failed; defaults were restored.',
  8: 'This $ command is only accepted while idle.',
  9: 'G-code is locked out during alarm or jog state.',
  10: 'Soft limits cannot be enabled without homing.',
  11: 'The line is longer than the line buffer.',
  12: 'The setting would exceed the maximum step rate.',
  13: 'The safety door is open.',
  14: 'The line is too long to store.',
  15: 'The jog target exceeds the machine travel; the jog was ignored.',
  16: 'The jog command has no "=" or contains prohibited G-code.',
  17: 'Laser mode needs PWM output.',
  20: 'Unsupported or invalid G-code command in block.',
  21: 'More than one command from the same modal group in the block.',
  22: 'The feed rate has not been set.',
  23: 'The G-code command needs an integer value.',
  24: 'More than one command that uses axis words in the block.',
  25: 'A word is repeated in the block.',
  26: 'The command needs axis words and none were given.',
  27: 'The line number is invalid.',
  28: 'The command is missing a required value word.',
  29: 'G59.x work coordinate systems are not supported.',
  30: 'G53 is only allowed with G0 and G1.',
  31: 'Axis words found but no command or modal state uses them.',
  32: 'G2/G3 arcs need at least one in-plane axis word.',
  33: 'The motion target is invalid.',
  34: 'The arc radius is invalid.',
  35: 'G2/G3 arcs need at least one in-plane offset word.',
  36: 'The block has value words nothing uses.',
  37: 'G43.1 offset is not on the tool length axis.',
  38: 'The tool number exceeds the maximum.',
};

/** `ALARM:N` codes. */
export const AlarmCode = {
  HardLimit: 1,
  SoftLimit: 2,
  AbortCycle: 3,
  ProbeFailInitial: 4,
  ProbeFailContact: 5,
  HomingFailReset: 6,
  HomingFailDoor: 7,
  HomingFailPulloff: 8,
  HomingFailApproach: 9,
} as const;
export type AlarmCode = (typeof AlarmCode)[keyof typeof AlarmCode];

/** Real-time command bytes (config.h). They bypass the RX buffer and get no `ok`. */
export const Realtime = {
  Reset: 0x18,
  StatusReport: 0x3f, // '?'
  CycleStart: 0x7e, // '~'
  FeedHold: 0x21, // '!'
  SafetyDoor: 0x84,
  JogCancel: 0x85,
  FeedOvrReset: 0x90,
  FeedOvrCoarsePlus: 0x91,
  FeedOvrCoarseMinus: 0x92,
  FeedOvrFinePlus: 0x93,
  FeedOvrFineMinus: 0x94,
  RapidOvrReset: 0x95,
  RapidOvrMedium: 0x96,
  RapidOvrLow: 0x97,
  SpindleOvrReset: 0x99,
  SpindleOvrCoarsePlus: 0x9a,
  SpindleOvrCoarseMinus: 0x9b,
  SpindleOvrFinePlus: 0x9c,
  SpindleOvrFineMinus: 0x9d,
  SpindleOvrStop: 0x9e,
  CoolantFloodToggle: 0xa0,
  CoolantMistToggle: 0xa1,
} as const;

/** A short name for a real-time byte, for logs (`receivedRealtime`). */
export function realtimeName(byte: number): string {
  for (const [name, value] of Object.entries(Realtime)) {
    if (value === byte) return name;
  }
  return `0x${byte.toString(16).padStart(2, '0')}`;
}

/** Feedback message bodies as printed inside `[MSG:...]` (report.c). */
export const Message = {
  CriticalEvent: 'Reset to continue',
  AlarmLock: "'$H'|'$X' to unlock",
  AlarmUnlock: 'Caution: Unlocked',
  Enabled: 'Enabled',
  Disabled: 'Disabled',
  SafetyDoorAjar: 'Check Door',
  CheckLimits: 'Check Limits',
  ProgramEnd: 'Pgm End',
  RestoreDefaults: 'Restoring defaults',
  SpindleRestore: 'Restoring spindle',
  SleepMode: 'Sleeping',
} as const;

/** Override limits and steps (config.h). */
export const Override = {
  feedMin: 10,
  feedMax: 200,
  spindleMin: 10,
  spindleMax: 200,
  coarse: 10,
  fine: 1,
  rapidMedium: 50,
  rapidLow: 25,
} as const;

/** GRBL_VERSION_BUILD of 1.1h, printed by `$I`. */
export const VERSION_BUILD = '20190830';
/** `$` help line (report.c). */
export const HELP_LINE = '[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]';
/** LINE_BUFFER_SIZE of protocol.h: a line holds at most 79 characters after filtering. */
export const LINE_BUFFER_SIZE = 80;
