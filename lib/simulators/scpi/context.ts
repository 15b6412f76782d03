import { ScpiError } from './errors';
import { mnemonicMatches, parseNumber, ScpiUnit } from './parser';

/** Limits and keywords for one numeric parameter. */
export interface NumberSpec {
  /** Unit the value may carry (`V`, `A`, `OHM`, …); a suffix of another unit is -131. */
  readonly unit?: ScpiUnit;
  /** Smallest and largest allowed value; outside them is -222 "Data out of range". */
  readonly min: number;
  readonly max: number;
  /** Value of `DEFault`; when absent the keyword is an illegal parameter value (-224). */
  readonly def?: number;
  /** Extra keywords allowed (mixed-case mnemonic → value), e.g. `{ INFinity: Infinity }`. */
  readonly keywords?: Readonly<Record<string, number>>;
}

/**
 * What a command handler sees: which header variant was sent, the numeric suffixes of its nodes
 * and typed access to its parameters. Every accessor raises the SCPI error an instrument would
 * log for that kind of bad parameter, so handlers read as the manual's parameter tables.
 */
export class CommandContext {
  constructor(
    /** Header as received (without `?`), e.g. `SOUR2:VOLT`. */
    readonly header: string,
    readonly isQuery: boolean,
    /** Raw parameter texts, already split at top-level commas. */
    readonly params: readonly string[],
    private readonly suffixes: ReadonlyMap<string, number>,
    /** Id of the connection the command arrived on (1, 2, … in order of connection). */
    readonly clientId: number,
  ) {}

  /** Numeric suffix given to the pattern node `node` (long name, any case), or `fallback` if none was sent. */
  suffix(node: string, fallback: number): number;
  suffix(node: string): number | undefined;
  suffix(node: string, fallback?: number): number | undefined {
    return this.suffixes.get(node.toUpperCase()) ?? fallback;
  }

  /** True if parameter `i` was sent. */
  has(i: number): boolean {
    return i < this.params.length;
  }

  /** Raw text of parameter `i`; -109 "Missing parameter" if it was not sent. */
  raw(i: number): string {
    const p = this.params[i];
    if (p === undefined) throw new ScpiError(-109, `parameter ${i + 1} of ${this.header} is missing`);
    return p;
  }

  /** Reads a number (with units and MIN/MAX/DEF) and checks it against the spec's range. */
  number(i: number, spec: NumberSpec): number {
    const text = this.raw(i);
    const value = parseNumber(text, spec.unit);
    if (value !== undefined) {
      if (Number.isNaN(value) || value < spec.min || value > spec.max) {
        throw new ScpiError(-222, `${text} is outside ${spec.min}…${spec.max}${spec.unit ? ` ${spec.unit}` : ''}`);
      }
      return value;
    }
    if (/^["'(#]/.test(text)) throw new ScpiError(-104, `${this.header} expects a number, not ${text}`);
    if (mnemonicMatches('MINimum', text)) return spec.min;
    if (mnemonicMatches('MAXimum', text)) return spec.max;
    if (mnemonicMatches('DEFault', text) && spec.def !== undefined) return spec.def;
    for (const [kw, v] of Object.entries(spec.keywords ?? {})) if (mnemonicMatches(kw, text)) return v;
    throw new ScpiError(-224, `${text} is not a value ${this.header} accepts`);
  }

  /** Reads a boolean: `ON`/`OFF` or a number (non-zero is on, as SCPI-99 §7.3 rounds it). */
  bool(i: number): boolean {
    const text = this.raw(i);
    if (mnemonicMatches('ON', text)) return true;
    if (mnemonicMatches('OFF', text)) return false;
    const n = parseNumber(text);
    if (n !== undefined) return Math.round(n) !== 0;
    throw new ScpiError(-224, `${text} is not ON, OFF, 1 or 0`);
  }

  /**
   * Reads character data that must be one of `choices` (mixed-case mnemonics such as
   * `IMMediate`); returns the chosen mnemonic as written in `choices`. Anything else is -224.
   */
  keyword<K extends string>(i: number, choices: readonly K[]): K {
    const text = this.raw(i);
    const hit = choices.find((c) => mnemonicMatches(c, text));
    if (hit === undefined) throw new ScpiError(-224, `${text} is not one of ${choices.join(', ')}`);
    return hit;
  }

  /** Reads a quoted string (`"..."` or `'...'`, doubled quotes inside); anything else is -104. */
  string(i: number): string {
    const text = this.raw(i);
    const q = text[0];
    if ((q !== '"' && q !== "'") || text.length < 2 || text[text.length - 1] !== q) {
      throw new ScpiError(-104, `${this.header} expects a quoted string, not ${text}`);
    }
    return text.slice(1, -1).split(q + q).join(q);
  }

  /** True if parameter `i` is a channel list `(@…)`. */
  isChannelList(i: number): boolean {
    return /^\(@/.test(this.params[i] ?? '');
  }

  /** Reads a channel list such as `(@1,2)` or `(@1:3)` into channel numbers; malformed lists are -102. */
  channelList(i: number): number[] {
    const text = this.raw(i);
    const m = /^\(@\s*([\d\s,:]+)\)$/.exec(text);
    if (!m) throw new ScpiError(-102, `${text} is not a channel list like (@1,2)`);
    const out: number[] = [];
    for (const part of m[1].split(',')) {
      const [a, b] = part.split(':').map((s) => Number(s.trim()));
      if (!Number.isInteger(a) || (b !== undefined && !Number.isInteger(b))) {
        throw new ScpiError(-102, `${text} is not a channel list like (@1,2)`);
      }
      for (let c = a; c <= (b ?? a); c++) out.push(c);
    }
    return out;
  }
}
