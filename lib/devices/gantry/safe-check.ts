import type { GrblStatus } from './status-report';

/** What `safe()` found when it checked the machine afterwards (status report). */
export interface SafeCheck {
  state: string;
  spindleRpm: number;
  spindle: 'cw' | 'ccw' | 'off';
  flood: boolean;
  mist: boolean;
  /** What was sent: `M5`, `M9`, or nothing when GRBL was in alarm (its reset had already switched them off). */
  sent: string[];
}

/** The check read from `status` (its `FS:` speed and, when it carries `Ov:`, its `A:` accessories), with what was `sent`. */
export function safeCheckOf(status: GrblStatus, sent: string[]): SafeCheck {
  const a = status.accessories;
  return {
    state: status.stateText,
    spindleRpm: status.spindle ?? 0,
    spindle: a?.spindle ?? 'off',
    flood: a?.flood ?? false,
    mist: a?.mist ?? false,
    sent,
  };
}

/**
 * What keeps `check` from the safe state `wanted`, as phrases ("the spindle still runs (800 rpm,
 * cw)", "coolant is still on (flood)"), and "no status report showed the spindle and coolant
 * state" when the report had no accessory field; empty when safe.
 */
export function unsafeParts(check: SafeCheck, wanted: { spindleOff: boolean; coolantOff: boolean }, accessoriesKnown: boolean): string[] {
  const still: string[] = [];
  if (wanted.spindleOff && (check.spindleRpm > 0 || check.spindle !== 'off')) still.push(`the spindle still runs (${check.spindleRpm} rpm, ${check.spindle})`);
  if (wanted.coolantOff && (check.flood || check.mist)) still.push(`coolant is still on (${[check.flood && 'flood', check.mist && 'mist'].filter(Boolean).join(', ')})`);
  if (!accessoriesKnown) still.push('no status report showed the spindle and coolant state');
  return still;
}
