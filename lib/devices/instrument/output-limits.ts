import { showValue } from '../../errors/workcell-error';
import { channelList, decimalValue, programUnits, spells, type HeaderNode } from './scpi-message';

/** The most one output may be set to (magnitudes); a quantity left out is not limited. */
export interface OutputLimit {
  readonly volts?: number;
  readonly amps?: number;
}

/** The rated output of one channel, as the maker's data sheet gives it. */
export interface ChannelRating {
  readonly volts: number;
  readonly amps: number;
}

/** What a message is checked against. */
export interface OutputLimitSettings {
  /** The device's output channels, 1…`channels`. */
  readonly channels: number;
  /** Limits by channel, CH1 first; a channel without an entry is not limited. */
  readonly limits: readonly OutputLimit[];
  /** Ratings by channel, CH1 first: what `MAXimum` sets; empty when unknown. */
  readonly ratings: readonly ChannelRating[];
}

type Quantity = 'voltage' | 'current';
const UNIT: Readonly<Record<Quantity, 'V' | 'A'>> = { voltage: 'V', current: 'A' };
const LIMIT_OF: Readonly<Record<Quantity, 'volts' | 'amps'>> = { voltage: 'volts', current: 'amps' };

/** True when some channel has a limit: only then are messages read for output levels. */
export function hasOutputLimits(settings: OutputLimitSettings): boolean {
  return settings.limits.some((l) => l.volts !== undefined || l.amps !== undefined);
}

/**
 * Why `message` must not be sent, or undefined when every output level it sets is within the
 * limits. The sentence goes after "<device>: <operation> refused: " and names the message, the
 * channel, the limit and the value.
 *
 * What is read (SCPI short or long form, any case, any spelling between them; see
 * scpi-message.ts for compound messages and the path rule):
 * - `[SOURce<n>:]VOLTage|CURRent[:LEVel][:IMMediate][:AMPLitude] <value>[,(@<channels>)]`, and
 *   the triggered level `…[:LEVel]:TRIGgered[:AMPLitude]` (applied by a later trigger);
 * - `[SOURce<n>:]APPLy [CH<n>|OUTPut<n>,]<volts>[,<amps>][,(@<channels>)]`.
 * The channel is the one the unit names (a `SOURce<n>` suffix, `CH<n>` in APPLy, a channel
 * list); else the channel an `INSTrument[:SELect] CH<n>|<n>` or `INSTrument:NSELect <n>`
 * selected earlier in the same message; else the instrument's selected channel, which the
 * driver cannot know before sending (another client or the front panel may have changed it,
 * `*RST` and `*RCL` change it), so the value must then be within the limit of every channel.
 * A value is a decimal number with an optional `V`/`A` suffix and multiplier (`500mV`), or
 * `MINimum` (0); `MAXimum` is the channel's rating when the preset knows it. Refused as not
 * checkable: other keywords (`DEFault`, `UP`, `DOWN`), a channel name the driver cannot map
 * (`P25V`), a parameter it cannot place, a unit whose header it cannot read, a channel beyond
 * the device's. Magnitudes are compared (a negative level of a bipolar output counts as its size).
 * Not read: protection levels (`VOLT:PROT`), stored states (`*RCL`), and vendor programs that
 * set levels later (the DP800's timer and delayer lists).
 */
export function outputLimitProblem(message: string, settings: OutputLimitSettings): string | undefined {
  const shown = showValue(message);
  let selected: number | undefined;
  for (const unit of programUnits(message)) {
    if ('unreadable' in unit) {
      const what = unit.unreadable === message.trim() ? 'it' : JSON.stringify(unit.unreadable);
      return `${shown}: ${what} cannot be read as a SCPI command, so its output levels cannot be checked against the limits`;
    }
    if (unit.common) {
      if (unit.commonName === '*RST' || unit.commonName === '*RCL') selected = undefined;
      continue;
    }
    if (unit.query) continue;
    // By the path rule first; a header that is nothing by it is read from the root too, as an
    // instrument that ignores the rule would (a conforming one rejects it, so nothing is lost).
    const chosen = selection(unit.path, unit.params);
    if (chosen !== undefined) {
      selected = chosen === 'unknown' ? undefined : chosen;
      continue;
    }
    if (readsAsNothing(unit.path) && selection(unit.own, unit.params) !== undefined) {
      // Selects only on an instrument that ignores the path rule: which channel is selected now is unknown.
      selected = undefined;
      continue;
    }
    const levels = levelSettings(unit.path, unit.params) ?? (readsAsNothing(unit.path) ? levelSettings(unit.own, unit.params) : undefined);
    if (levels === undefined) continue;
    if (typeof levels === 'string') {
      const where = unit.text === message.trim() ? '' : `in ${JSON.stringify(unit.text)}, `;
      return `${shown}: ${where}${levels}, so its output levels cannot be checked against the limits`;
    }
    for (const level of levels.values) {
      const problem = checkLevel(shown, level, levels.channels ?? (selected === undefined ? undefined : [selected]), settings);
      if (problem) return problem;
    }
  }
  return undefined;
}

/** True when `path` is neither a level nor a selection header (by SCPI's rules, an error or another command). */
function readsAsNothing(path: readonly HeaderNode[]): boolean {
  return selection(path) === undefined && levelSettings(path, []) === undefined;
}

/** A level a unit sets: the quantity and the parameter as written. */
interface Level {
  readonly quantity: Quantity;
  readonly text: string;
}

/** The channel an `INSTrument` selection unit selects (`'unknown'` when it names one the driver cannot map), or undefined for any other unit. */
function selection(path: readonly HeaderNode[], params: readonly string[] = []): number | 'unknown' | undefined {
  const [inst, what] = path;
  if (path.length < 1 || path.length > 2 || !spells('INSTrument', inst.mnemonic)) return undefined;
  const byNumber = what !== undefined && spells('NSELect', what.mnemonic);
  if (what !== undefined && !byNumber && !spells('SELect', what.mnemonic)) return undefined;
  const param = params[0] ?? '';
  const n = byNumber ? (/^\+?\d+$/.test(param) ? Number(param) : undefined) : channelName(param);
  return n ?? 'unknown';
}

/** `CH2`, `OUTPut2`, `OUT2` or a bare `2` → 2; undefined for anything else (`P25V`). */
function channelName(text: string): number | undefined {
  const m = /^(?:CH|OUT|OUTP|OUTPUT)?\s*(\d+)$/i.exec(text.trim());
  return m ? Number(m[1]) : undefined;
}

/**
 * The levels a unit sets and the channels it names (undefined: the selected channel), a
 * sentence when it sets levels in a way the driver cannot check, or undefined when it sets none.
 */
function levelSettings(path: readonly HeaderNode[], unitParams: readonly string[]): { values: Level[]; channels: number[] | undefined } | string | undefined {
  let i = 0;
  let source: HeaderNode | undefined;
  if (path[i] && spells('SOURce', path[i].mnemonic)) source = path[i++];
  const head = path[i];
  if (!head) return undefined;
  let params = [...unitParams];
  let channels = source?.suffix === undefined ? undefined : [source.suffix];
  // A trailing channel list names the channels (`VOLT 5,(@2)`, Keysight's multi-output form).
  const listed = params.length > 1 ? channelList(params[params.length - 1]) : undefined;
  if (listed) {
    channels = listed;
    params = params.slice(0, -1);
  }
  if (i + 1 === path.length && spells('APPLy', head.mnemonic)) {
    if (params.length > 0 && /^[A-Za-z]/.test(params[0]) && !isValueKeyword(params[0])) {
      const named = channelName(params.shift()!);
      if (named === undefined) return `the output ${JSON.stringify(unitParams[0])} cannot be matched to a channel`;
      channels = [named];
    }
    if (params.length > 2) return 'APPLy has more parameters than a voltage and a current';
    const values: Level[] = [];
    if (params[0] !== undefined) values.push({ quantity: 'voltage', text: params[0] });
    if (params[1] !== undefined) values.push({ quantity: 'current', text: params[1] });
    return { values, channels };
  }
  const quantity: Quantity | undefined = spells('VOLTage', head.mnemonic) ? 'voltage' : spells('CURRent', head.mnemonic) ? 'current' : undefined;
  if (!quantity || !isLevelTail(path.slice(i + 1))) return undefined;
  if (params.length > 1) return `a parameter after the ${quantity} cannot be placed`;
  return { values: params.length ? [{ quantity, text: params[0] }] : [], channels };
}

/** `[:LEVel][:IMMediate][:AMPLitude]` or `[:LEVel]:TRIGgered[:AMPLitude]`. */
function isLevelTail(tail: readonly HeaderNode[]): boolean {
  let i = 0;
  if (tail[i] && spells('LEVel', tail[i].mnemonic)) i++;
  if (tail[i] && (spells('IMMediate', tail[i].mnemonic) || spells('TRIGgered', tail[i].mnemonic))) i++;
  if (tail[i] && spells('AMPLitude', tail[i].mnemonic)) i++;
  return i === tail.length;
}

function isValueKeyword(text: string): boolean {
  return ['MINimum', 'MAXimum', 'DEFault', 'UP', 'DOWN'].some((k) => spells(k, text));
}

/** The level checked on each channel it may reach: the named ones, else every channel. */
function checkLevel(shown: string, level: Level, named: number[] | undefined, settings: OutputLimitSettings): string | undefined {
  const unit = UNIT[level.quantity];
  const all = Array.from({ length: settings.channels }, (_, k) => k + 1);
  const candidates = named ?? all;
  const whose = (ch: number) => (named ? `CH${ch}'s ${level.quantity}` : `the selected channel's ${level.quantity}`);
  // Which channel is selected is not known before sending: the front panel, another client or
  // *RST may have changed it.
  const unknown = named ? '' : '; which channel is selected cannot be known before sending, so the value must be within every channel\'s limit: name the channel with SOURce<n>, APPLy CH<n>, or INSTrument CH<n> earlier in the same message';
  for (const ch of candidates) {
    if (!all.includes(ch)) return `${shown} sets the ${level.quantity} of CH${ch}, but the device's output channels are CH1…CH${settings.channels}: no limit is known for it`;
    const limit = settings.limits[ch - 1]?.[LIMIT_OF[level.quantity]];
    if (limit === undefined) continue;
    const text = level.text.trim();
    let value = decimalValue(text, unit);
    let as = '';
    if (value === undefined && spells('MINimum', text)) value = 0;
    if (value === undefined && spells('MAXimum', text)) {
      const rating = settings.ratings[ch - 1]?.[LIMIT_OF[level.quantity]];
      if (rating === undefined) return `${shown} sets ${whose(ch)} to ${text}, the instrument's maximum, which the driver does not know, so it cannot be checked against CH${ch}'s limit of ${limit} ${unit} (give the value as a number)${unknown}`;
      value = rating;
      as = ` (${text}: the rating)`;
    }
    if (value === undefined) return `${shown} sets ${whose(ch)} to ${JSON.stringify(text)}, which cannot be checked against CH${ch}'s limit of ${limit} ${unit} (give the value as a number, with or without ${unit})${unknown}`;
    if (!as && text !== String(value)) as = ` (written ${JSON.stringify(text)})`;
    if (Math.abs(value) > limit) return `${shown} sets ${whose(ch)} to ${value} ${unit}${as}, above CH${ch}'s limit of ${limit} ${unit}${unknown}`;
  }
  return undefined;
}

/**
 * Reads output limits as typed in the editor, one channel per line: `CH1: 60 V, 1 A`, `CH2: 8 V`
 * (case and spaces as you like; a channel may give the voltage, the current or both, each at
 * most once, non-negative decimals). Blank lines are skipped; blank text is no limits (`[]`).
 * Throws a RangeError naming the line for anything else and for a channel given twice.
 */
export function parseOutputLimits(text: string): OutputLimit[] {
  const out: OutputLimit[] = [];
  const seen = new Set<number>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    const m = /^CH\s*(\d+)\s*:\s*(.+)$/i.exec(line);
    const problem = (why: string) => new RangeError(`output limits line ${JSON.stringify(line)}: ${why}`);
    if (!m) throw problem('expected CH<n>: <volts> V, <amps> A (either or both)');
    const channel = Number(m[1]);
    if (!(channel >= 1 && channel <= 16)) throw problem(`the channel must be 1 to 16, got ${m[1]}`);
    if (seen.has(channel)) throw problem(`CH${channel} is given twice`);
    seen.add(channel);
    const limit: { volts?: number; amps?: number } = {};
    for (const part of m[2].split(',')) {
      const p = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*([VA])\s*$/i.exec(part);
      if (!p) throw problem(`${JSON.stringify(part.trim())} is not a limit: a number followed by V or A`);
      const key = p[2].toUpperCase() === 'V' ? 'volts' : 'amps';
      if (limit[key] !== undefined) throw problem(`the ${key === 'volts' ? 'voltage' : 'current'} is given twice`);
      limit[key] = Number(p[1]);
    }
    while (out.length < channel) out.push({});
    out[channel - 1] = limit;
  }
  return out;
}
