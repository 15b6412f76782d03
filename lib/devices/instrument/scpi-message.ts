/**
 * Reading a SCPI program message the way an instrument does, as far as the driver needs it to
 * check a message before sending it (see output-limits.ts). This is the driver's own reading,
 * written from SCPI-99 and IEEE 488.2, independent of the simulator's parser
 * (lib/simulators/scpi/parser.ts): the tests send the same messages to the simulator, so each
 * checks the other.
 */

/** One message unit with its header resolved to a full path from the root. */
export interface ProgramUnit {
  /** The unit as written, trimmed (`CURR 2`). */
  readonly text: string;
  /** The header's nodes from the root by the path rule, with their numeric suffixes (`SOUR2:CURR` → SOUR 2, CURR). */
  readonly path: readonly HeaderNode[];
  /** The header's own nodes, as if it started at the root (how an instrument that ignores the path rule reads it). */
  readonly own: readonly HeaderNode[];
  /** True for a common command (`*RST`); its `path` is empty. */
  readonly common: boolean;
  /** The common command's name, upper case, without `?` (`*RST`). */
  readonly commonName: string;
  readonly query: boolean;
  /** Parameters as written, split at top-level commas and trimmed. */
  readonly params: readonly string[];
}

/** A header node: its mnemonic (upper case, without the suffix) and numeric suffix, if any. */
export interface HeaderNode {
  readonly mnemonic: string;
  readonly suffix: number | undefined;
}

/**
 * The units of a program message, in order, each header resolved by SCPI's path rule (SCPI-99
 * §6.2.4, IEEE 488.2 §A.1.1): a header starting with `:` starts at the root; any other header
 * continues from the path of the previous unit's header (all its nodes but the last); a common
 * command (`*RST`) leaves the path alone. Units are separated by `;` outside quoted strings;
 * empty units are skipped. A unit whose header cannot be read is returned with an empty path
 * and `unreadable` set in its place, so a caller can refuse what it cannot check.
 */
export function programUnits(message: string): (ProgramUnit | { readonly unreadable: string })[] {
  const out: (ProgramUnit | { unreadable: string })[] = [];
  let path: HeaderNode[] = [];
  for (const raw of splitOutsideQuotes(message, ';')) {
    const text = raw.trim();
    if (text === '') continue;
    const m = /^(:?)(\*?[A-Za-z][A-Za-z0-9_]*(?::[A-Za-z][A-Za-z0-9_]*)*)(\?)?(?:\s+([\s\S]*))?$/.exec(text);
    if (!m) {
      out.push({ unreadable: text });
      continue;
    }
    const [, root, header, q, rest] = m;
    const params = rest === undefined ? [] : splitOutsideQuotes(rest, ',').map((p) => p.trim());
    if (header.startsWith('*')) {
      if (root || header.includes(':')) {
        out.push({ unreadable: text });
        continue;
      }
      out.push({ text, path: [], own: [], common: true, commonName: header.toUpperCase(), query: q === '?', params });
      continue;
    }
    const own = header.split(':').map(headerNode);
    const full = root ? own : [...path, ...own];
    path = full.slice(0, -1);
    out.push({ text, path: full, own, common: false, commonName: '', query: q === '?', params });
  }
  return out;
}

/** `SOUR2` → SOUR, 2. A token with digits inside (`A1B`) is all mnemonic: it spells nothing a check looks for. */
function headerNode(token: string): HeaderNode {
  const m = /^([A-Za-z_]+)(\d+)$/.exec(token);
  if (!m) return { mnemonic: token.toUpperCase(), suffix: undefined };
  return { mnemonic: m[1].toUpperCase(), suffix: Number(m[2]) };
}

/**
 * True when `word` (any case, without suffix) spells the mixed-case mnemonic `mnemonic`
 * (`VOLTage`): its short form (the capitals, `VOLT`), its long form, or anything in between
 * (`VOLTA`). SCPI itself allows only the two forms; an instrument that also takes the ones in
 * between must not get past a check, so the check reads them all.
 */
export function spells(mnemonic: string, word: string): boolean {
  const long = mnemonic.toUpperCase();
  const short = mnemonic.replace(/[a-z]/g, '') || long;
  const w = word.toUpperCase();
  return long.startsWith(w) && w.startsWith(short);
}

/**
 * Splits `text` at each `separator` outside quoted strings (`"…"`, `'…'`, a doubled quote
 * inside staying inside) and, for parameters, outside parentheses (`(@1,2)` channel lists).
 */
export function splitOutsideQuotes(text: string, separator: ';' | ','): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | undefined;
  let depth = 0;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '(') {
      depth++;
    } else if (ch === ')') {
      depth = Math.max(0, depth - 1);
    } else if (ch === separator && (separator === ';' || depth === 0)) {
      parts.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  parts.push(current);
  return parts;
}

/** Decimal exponents of SCPI's suffix multipliers (SCPI-99 §7.7.3): `M` is milli, `MA` mega. */
const MULTIPLIERS: Readonly<Record<string, number>> = {
  '': 0, EX: 18, PE: 15, T: 12, G: 9, MA: 6, K: 3, M: -3, U: -6, N: -9, P: -12, F: -15, A: -18,
};

/**
 * A decimal numeric parameter (IEEE 488.2 §7.7.2: `5`, `+.5`, `2.5E-1`) with an optional unit
 * suffix in `unit` and a multiplier (`500mV`, `0.1 A`, `2MA` = 2 mA, since SCPI reads the unit
 * first: a suffix that is exactly the multiplier plus the unit), as a number in the base unit.
 * Undefined for anything else: a keyword (`MAX`), a non-decimal number (`#H1F`), a suffix of
 * another unit.
 */
export function decimalValue(text: string, unit: 'V' | 'A'): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$/.exec(text.trim());
  if (!m) return undefined;
  const suffix = m[2].toUpperCase();
  if (suffix === '') return Number(m[1]);
  if (!suffix.endsWith(unit)) return undefined;
  const exponent = MULTIPLIERS[suffix.slice(0, -unit.length)];
  if (exponent === undefined) return undefined;
  const [digits, own = '0'] = m[1].split(/[eE]/);
  return Number(`${digits}e${Number(own) + exponent}`);
}

/** The channels of a channel list parameter (`(@1)`, `(@1,2)`, `(@1:3)`), or undefined when it is none. */
export function channelList(text: string): number[] | undefined {
  const m = /^\(\s*@([\d\s,:]+)\)$/.exec(text.trim());
  if (!m) return undefined;
  const channels: number[] = [];
  for (const item of m[1].split(',')) {
    const range = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(item);
    if (!range) return undefined;
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    for (let c = Math.min(from, to); c <= Math.max(from, to) && channels.length <= 64; c++) channels.push(c);
  }
  return channels;
}
