import { ScpiError } from './errors';

/**
 * One node of a command header pattern, e.g. `VOLTage` or `[SOURce<n>:]`. The short form is the
 * upper-case part of the long form, as SCPI-99 §6.2.1 defines mnemonics.
 */
export interface PatternNode {
  readonly long: string;
  readonly short: string;
  readonly optional: boolean;
  /** True when the node accepts a numeric suffix (`OUTPut<n>`, `CH<n>`); the suffix itself is optional. */
  readonly suffix: boolean;
}

/**
 * Compiles a header pattern written the way instrument manuals write them:
 * `[SENSe:]VOLTage[:DC]:NPLCycles`, `[SOURce<n>:]CURRent[:LEVel]`, `MEASure:VOLTage[:DC]`.
 * Square brackets mark optional nodes and `<n>` a node that takes a numeric suffix.
 */
export function compilePattern(pattern: string): PatternNode[] {
  const nodes: PatternNode[] = [];
  const re = /(\[)?:?([A-Za-z]+)(<n>)?:?(\])?/gy;
  const body = pattern.startsWith(':') ? pattern.slice(1) : pattern;
  let m: RegExpExecArray | null;
  while (re.lastIndex < body.length && (m = re.exec(body)) !== null) {
    const [, open, name, suffix, close] = m;
    if (Boolean(open) !== Boolean(close)) {
      throw new Error(`Header pattern "${pattern}" has an unbalanced bracket around "${name}".`);
    }
    const short = name.replace(/[a-z]/g, '');
    nodes.push({ long: name.toUpperCase(), short: short || name.toUpperCase(), optional: Boolean(open), suffix: Boolean(suffix) });
  }
  if (re.lastIndex !== body.length || nodes.length === 0) {
    throw new Error(`Header pattern "${pattern}" is not of the form NODe[:OPTional]:NODe<n>.`);
  }
  return nodes;
}

/** A header token split into its mnemonic and its numeric suffix (`CH2` → `CH`, 2). */
export interface HeaderToken {
  readonly mnemonic: string;
  readonly suffix: number | undefined;
}

/** Splits a received header mnemonic into letters and numeric suffix; throws -102 on illegal characters. */
export function parseToken(text: string): HeaderToken {
  const m = /^([A-Za-z][A-Za-z_]*?)(\d+)?$/.exec(text);
  if (!m) throw new ScpiError(-102, `"${text}" is not a header mnemonic`);
  return { mnemonic: m[1].toUpperCase(), suffix: m[2] === undefined ? undefined : Number(m[2]) };
}

/**
 * True if `word` (any case) is the short or the long form of the mixed-case mnemonic `mnemonic`;
 * SCPI accepts exactly these two spellings and nothing in between (`VOLTA` is not `VOLTage`).
 */
export function mnemonicMatches(mnemonic: string, word: string): boolean {
  const w = word.toUpperCase();
  const long = mnemonic.toUpperCase();
  const short = mnemonic.replace(/[a-z]/g, '') || long;
  return w === long || w === short;
}

function nodeMatches(node: PatternNode, token: HeaderToken): boolean {
  if (token.suffix !== undefined && !node.suffix) return false;
  return token.mnemonic === node.long || token.mnemonic === node.short;
}

/** The outcome of matching a header against one pattern: the numeric suffix given to each node. */
export interface HeaderMatch {
  /** Suffix per pattern node (by upper-case long name); absent when the node was skipped or had none. */
  readonly suffixes: ReadonlyMap<string, number>;
}

/**
 * Matches header tokens against a compiled pattern. Optional nodes may be present or left out;
 * backtracking handles patterns where an optional node shares a name with a later one.
 */
export function matchPattern(nodes: readonly PatternNode[], tokens: readonly HeaderToken[]): HeaderMatch | undefined {
  const suffixes = new Map<string, number>();
  const walk = (i: number, j: number): boolean => {
    if (j === tokens.length) return nodes.slice(i).every((n) => n.optional);
    if (i === nodes.length) return false;
    const node = nodes[i];
    if (nodeMatches(node, tokens[j])) {
      const s = tokens[j].suffix;
      if (s !== undefined) suffixes.set(node.long, s);
      if (walk(i + 1, j + 1)) return true;
      suffixes.delete(node.long);
    }
    return node.optional && walk(i + 1, j);
  };
  return walk(0, 0) ? { suffixes } : undefined;
}

/**
 * A command tree: header patterns with their handlers. Lookup walks every registered pattern;
 * instrument command sets are a few dozen headers, so a flat list is fast enough and keeps
 * optional nodes easy to reason about.
 */
export class CommandTree<T> {
  private readonly entries: { pattern: string; nodes: PatternNode[]; value: T }[] = [];

  /** Registers `value` under a header pattern such as `[SOURce<n>:]VOLTage[:LEVel]`. */
  add(pattern: string, value: T): void {
    this.entries.push({ pattern, nodes: compilePattern(pattern), value });
  }

  /** Finds the first pattern that the tokens spell, or undefined (the caller raises -113). */
  find(tokens: readonly HeaderToken[]): { value: T; match: HeaderMatch; pattern: string } | undefined {
    for (const e of this.entries) {
      const match = matchPattern(e.nodes, tokens);
      if (match) return { value: e.value, match, pattern: e.pattern };
    }
    return undefined;
  }
}

/**
 * Splits a program message (one line, terminator removed) into its message units at `;`, leaving
 * semicolons inside quoted strings and channel lists alone. Unbalanced quotes raise -102.
 */
export function splitUnits(message: string): string[] {
  const split = splitTopLevel(message, ';', true);
  if (split.openQuote) throw new ScpiError(-102, 'a quoted string is not closed');
  return split.parts;
}

/**
 * Splits `text` at each `separator` outside quoted strings and parentheses (the one scan both
 * message units and parameters need). `clampDepth`: a stray `)` does not count below zero (the
 * unit splitter leaves such errors to the parameter parser); otherwise the final `depth` tells
 * whether the parentheses balanced.
 */
function splitTopLevel(text: string, separator: string, clampDepth: boolean): { parts: string[]; openQuote: boolean; depth: number } {
  const parts: string[] = [];
  let current = '';
  let quote: string | undefined;
  let depth = 0;
  for (const ch of text) {
    if (quote) {
      current += ch;
      if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth = clampDepth ? Math.max(0, depth - 1) : depth - 1;
    else if (ch === separator && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    current += ch;
  }
  parts.push(current);
  return { parts, openQuote: quote !== undefined, depth };
}

/** One message unit taken apart: header text, whether it is a query, and its raw parameters. */
export interface ParsedUnit {
  /** Header as received, without the query mark (`:SOUR:VOLT`, `*IDN`). */
  readonly header: string;
  readonly absolute: boolean;
  readonly common: boolean;
  readonly query: boolean;
  readonly params: string[];
}

/**
 * Parses one message unit: header (optionally starting with `:` for a path from the root, or `*`
 * for a common command), an optional `?`, whitespace, then comma-separated parameters.
 */
export function parseUnit(unit: string): ParsedUnit | undefined {
  const text = unit.trim();
  if (text === '') return undefined;
  const m = /^(:?)(\*?[A-Za-z0-9_:]+)(\?)?(?:\s+([\s\S]*))?$/.exec(text);
  if (!m) throw new ScpiError(-102, `cannot read a header in "${text}"`);
  const [, colon, header, q, rest] = m;
  if (header.startsWith('*') && (colon || header.includes(':'))) {
    throw new ScpiError(-102, `"${text}" mixes a common command with a path`);
  }
  if (header.endsWith(':') || header.includes('::')) throw new ScpiError(-102, `"${header}" has an empty header node`);
  return {
    header,
    absolute: colon === ':',
    common: header.startsWith('*'),
    query: q === '?',
    params: rest === undefined ? [] : splitParams(rest),
  };
}

/** Splits parameter text at top-level commas; quoted strings and `(@1,2)` channel lists stay whole. */
export function splitParams(text: string): string[] {
  const split = splitTopLevel(text, ',', false);
  if (split.depth !== 0) throw new ScpiError(-102, 'a parenthesis in the parameters is not balanced');
  const params = split.parts.map((p) => p.trim());
  if (params.some((p) => p === '')) throw new ScpiError(-102, 'an empty parameter between commas');
  return params;
}

/** The physical units a numeric parameter may carry. */
export type ScpiUnit = 'V' | 'A' | 'OHM' | 'S' | 'HZ' | 'CEL' | 'W';

/** Decimal exponent of each SCPI multiplier mnemonic. */
const PREFIX: Readonly<Record<string, number>> = {
  '': 0, EX: 18, PE: 15, T: 12, G: 9, MA: 6, K: 3, M: -3, U: -6, N: -9, P: -12, F: -15, A: -18,
};

/** Scales by a power of ten through the decimal text, so 3300 mV is exactly 3.3 and not 3.3000000000000003. */
function scale(mantissa: string, exponent: number): number {
  const [digits, own = '0'] = mantissa.split(/[eE]/);
  return Number(`${digits}e${Number(own) + exponent}`);
}

/**
 * Parses decimal numeric program data (NR1, NR2, NR3) with an optional suffix such as `mV`,
 * `kOHM` or `MHZ`. Suffixes are case-insensitive, so SCPI-99 §7.7.3 fixes `M` as milli and `MA` as
 * mega — except in `MOHM` and `MHZ`, which everyone reads as mega. Returns undefined if `text` is
 * not numeric at all (the caller decides between keyword and error).
 */
export function parseNumber(text: string, unit?: ScpiUnit): number | undefined {
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)$/.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[1]);
  const suffix = m[2].toUpperCase();
  if (suffix === '') return value;
  if (!unit) throw new ScpiError(-138, `"${text}" carries a unit where none is expected`);
  if (suffix === 'MOHM' && unit === 'OHM') return scale(m[1], 6);
  if (suffix === 'MHZ' && unit === 'HZ') return scale(m[1], 6);
  if (!suffix.endsWith(unit)) throw new ScpiError(-131, `"${m[2]}" is not a unit of ${unit}`);
  const exponent = PREFIX[suffix.slice(0, suffix.length - unit.length)];
  if (exponent === undefined) throw new ScpiError(-131, `"${m[2]}" has an unknown multiplier`);
  return scale(m[1], exponent);
}
