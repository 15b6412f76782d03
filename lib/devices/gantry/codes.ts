/**
 * What GRBL's `error:N` and `ALARM:N` codes mean, so a refusal reads as the firmware's own
 * explanation ("error:9 — G-code locked out during alarm or jog state") rather than a number.
 * Codes 1–38 and alarms 1–9 are GRBL 1.1 (gnea/grbl doc/csv/error_codes_en_US.csv and
 * alarm_codes_en_US.csv); alarms 10–18 are grblHAL's additions (grblHAL/core alarms.h).
 * The sentences follow GRBL's descriptions; where a firmware build reports a code not listed
 * here the text says so and keeps the number.
 */

/** GRBL's `error:N` meanings. */
export const GRBL_ERRORS: Readonly<Record<number, string>> = {
  1: 'expected command letter: a G-code word has no letter',
  2: 'bad number format: a word value is missing or is not a valid number',
  3: "invalid statement: the '$' system command is not recognized or supported",
  4: 'negative value: a value that must be positive is negative',
  5: 'setting disabled: homing is not enabled in the settings ($22)',
  6: 'the step pulse must be at least 3 µs',
  7: 'EEPROM read failed: the affected settings were restored to their defaults',
  8: "not idle: this '$' command is only accepted while GRBL is idle",
  9: 'G-code locked out during alarm or jog state',
  10: 'soft limits cannot be enabled without homing',
  11: 'line overflow: too many characters in the line; it was not executed',
  12: 'the setting would make the step rate exceed what GRBL supports',
  13: 'check door: the safety door is open',
  14: 'line length exceeded: the build info or startup line is too long to store',
  15: 'travel exceeded: the jog target exceeds the machine travel; the jog was ignored',
  16: "invalid jog command: no '=' or a G-code a jog may not contain",
  17: 'laser mode needs PWM output',
  20: 'unsupported or invalid G-code command in the block',
  21: 'modal group violation: more than one command of the same modal group in the block',
  22: 'undefined feed rate: the feed rate has not been set',
  23: 'the G-code command needs an integer value',
  24: 'more than one G-code command that uses axis words in the block',
  25: 'a G-code word is repeated in the block',
  26: 'no axis words in a block whose command or modal state needs them',
  27: 'invalid line number',
  28: 'the G-code command is missing a required value word',
  29: 'G59.x work coordinate systems are not supported',
  30: 'G53 is only allowed with G0 and G1 motion',
  31: 'axis words in a block where no command or modal state uses them',
  32: 'G2/G3 arcs need at least one in-plane axis word',
  33: 'the motion command target is invalid',
  34: 'the arc radius is invalid',
  35: 'G2/G3 arcs need at least one in-plane offset word',
  36: 'unused value words in the block',
  37: 'the G43.1 dynamic tool length offset is not on the tool length axis',
  38: 'the tool number is greater than the maximum supported',
};

/** GRBL's (and grblHAL's) `ALARM:N` meanings. */
export const GRBL_ALARMS: Readonly<Record<number, string>> = {
  1: 'hard limit triggered; the machine position is likely lost after the sudden halt, re-homing is highly recommended',
  2: 'soft limit: the G-code motion target exceeds the machine travel; the machine position is retained and the alarm may be safely unlocked',
  3: 'reset while in motion; the machine position is likely lost after the sudden halt, re-homing is highly recommended',
  4: 'probe fail: the probe is not in the expected initial state before the probe cycle',
  5: 'probe fail: the probe did not contact the workpiece within the programmed travel',
  6: 'homing fail: the homing cycle was reset',
  7: 'homing fail: the safety door was opened during the homing cycle',
  8: 'homing fail: the pull-off travel failed to clear the limit switch',
  9: 'homing fail: the limit switch was not found within the search distance',
  10: 'emergency stop asserted (grblHAL); clear it and reset',
  11: 'homing required (grblHAL): run the homing cycle ($H) to continue',
  12: 'limit switch engaged (grblHAL); clear it before continuing',
  13: 'probe protection triggered (grblHAL); clear it before continuing',
  14: 'spindle at-speed timeout (grblHAL)',
  15: 'homing fail (grblHAL): the second limit switch of an auto-squared axis was not found',
  16: 'power-on self test failed (grblHAL); reset required',
  17: 'motor fault (grblHAL)',
  18: 'homing fail (grblHAL): bad configuration',
};

/**
 * Alarms after which GRBL's idea of the machine position can no longer be trusted (the
 * steppers were stopped abruptly, or homing did not finish). Soft-limit and probe alarms keep
 * the position (GRBL says so), as does the grblHAL "homing required" lock (nothing moved).
 */
export const POSITION_LOST_ALARMS: ReadonlySet<number> = new Set([1, 3, 6, 7, 8, 9, 10, 15, 16, 17, 18]);

/** `error:9 — G-code locked out during alarm or jog state`. */
export function describeGrblError(code: number): string {
  return `error:${code} — ${GRBL_ERRORS[code] ?? 'an error code this driver does not know (see the firmware\'s documentation)'}`;
}

/** `ALARM:3 — reset while in motion; …`. */
export function describeGrblAlarm(code: number): string {
  return `ALARM:${code} — ${GRBL_ALARMS[code] ?? 'an alarm code this driver does not know (see the firmware\'s documentation)'}`;
}
