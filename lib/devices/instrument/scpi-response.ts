import { WorkcellError, showValue } from '../../errors/workcell-error';

/**
 * SCPI-99 §7.2.1 reserves 9.9E37 for "infinity": an instrument answers ±9.9E37 when a reading
 * overloads its range (the Keysight 34461A prints `+9.90000000E+37`).
 */
export const SCPI_OVERLOAD = 9.9e37;
/** SCPI-99 §7.2.1.5: 9.91E37 means "not a number" (a reading that could not be computed). */
export const SCPI_NAN = 9.91e37;

/** A number an instrument answered with. */
export interface ScpiNumber {
  /** The value, or ±Infinity for an overload (`±9.9E37`); never NaN. */
  readonly value: number;
  /** True when the instrument answered ±9.9E37 (the reading is above its range). */
  readonly overload: boolean;
  /** The text as received. */
  readonly text: string;
}

// IEEE 488.2 NR1 (integer), NR2 (fixed point) and NR3 (exponent) response formats, which is all an
// instrument may send as a decimal response (§8.7.2–8.7.4). Anything else in a numeric reply is damage.
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses one decimal response field (NR1, NR2 or NR3, surrounding blanks ignored). Returns
 * undefined for anything that is not such a number, so the caller can name the device, the
 * operation and the text in its error. `±9.9E37` (and anything at or above 9.9E37 in size other
 * than NaN) is an overload: `value` ±Infinity, `overload` true. `9.91E37` (SCPI NaN) is not a number
 * (undefined).
 */
export function parseScpiNumber(text: string): ScpiNumber | undefined {
  const trimmed = text.trim();
  if (!DECIMAL.test(trimmed)) return undefined;
  const n = Number(trimmed);
  if (!Number.isFinite(n)) return undefined;
  if (Math.abs(n - SCPI_NAN) < 1e34) return undefined;
  if (Math.abs(n) >= SCPI_OVERLOAD * (1 - 1e-9)) return { value: n < 0 ? -Infinity : Infinity, overload: true, text: trimmed };
  return { value: n, overload: false, text: trimmed };
}

/**
 * Parses a response of one or more comma-separated numbers (`READ?` with a sample count of 5,
 * the DP800's `MEAS:ALL?` → `5.0000,0.1000,0.500`). Throws a `garbled-reply` WorkcellError
 * naming `device`, `operation`, the query and the reply when any field is not a number: a
 * garbled reply must never become a plausible reading.
 */
export function parseScpiNumbers(device: string, operation: string, query: string, reply: string): ScpiNumber[] {
  const fields = reply.trim() === '' ? [] : reply.split(',');
  const numbers = fields.map(parseScpiNumber);
  if (fields.length === 0 || numbers.some((n) => n === undefined)) {
    throw new WorkcellError(
      'garbled-reply',
      `${device}: ${operation}: the reply to ${JSON.stringify(query)} is not a number: ${showValue(reply)}`,
      { subject: device, operation, value: reply },
    );
  }
  return numbers as ScpiNumber[];
}

/**
 * Measurement functions and their units: the long form of the mnemonic, its short form length
 * and the unit (SCPI-99 Instrument Classes). Makers shorten differently (Rigol's `POWEr`), so
 * any prefix of the long form at least as long as the short form is accepted.
 */
const UNIT_OF: readonly [long: string, short: number, unit: string][] = [
  ['VOLTAGE', 4, 'V'],
  ['CURRENT', 4, 'A'],
  ['RESISTANCE', 3, 'Ω'],
  ['FRESISTANCE', 4, 'Ω'],
  ['TEMPERATURE', 4, '°C'],
  ['POWER', 3, 'W'],
  ['FREQUENCY', 4, 'Hz'],
  ['PERIOD', 3, 's'],
  ['CAPACITANCE', 3, 'F'],
];

/**
 * The unit of the readings a measurement query returns, from its header: `MEAS:VOLT:DC?` → `V`,
 * `:MEASure:CURRent? CH1` → `A`, `MEAS:RES?` → `Ω`, `CONF:TEMP` → `°C`. Only `MEASure` and
 * `CONFigure` headers (optionally after `SENSe`-less paths) name a function; for anything else
 * (`READ?`, `FETC?`, a vendor query) it returns undefined, and the caller falls back to what it
 * knows (the last configured function, or a unit given by the user). The DP800's bare
 * `MEAS?` is a voltage measurement.
 */
export function unitOfQuery(command: string): string | undefined {
  // The last message unit decides (`CONF:VOLT:DC 10;:READ?` reads what CONF set, handled by the caller).
  const header = command.trim().split(/\s/)[0].replace(/^:/, '').replace(/\?$/, '').toUpperCase();
  const nodes = header.split(':');
  const first = nodes[0] ?? '';
  const isMeasure = first.length >= 4 && 'MEASURE'.startsWith(first);
  if (!isMeasure && !(first.length >= 4 && 'CONFIGURE'.startsWith(first))) return undefined;
  if (nodes.length === 1) return isMeasure ? 'V' : undefined;
  const fn = nodes[1];
  if (fn.length >= 4 && 'SCALAR'.startsWith(fn)) return unitFromNode(nodes[2]);
  return unitFromNode(fn);
}

function unitFromNode(node: string | undefined): string | undefined {
  if (node === undefined) return undefined;
  const mnemonic = node.replace(/\d+$/, '');
  return UNIT_OF.find(([long, short]) => mnemonic.length >= short && long.startsWith(mnemonic))?.[2];
}

/**
 * True when `command` contains a `?` outside quoted strings, i.e. it asks the instrument for a
 * reply. A write that secretly queries would leave an answer no request claims; a query that
 * asks nothing would wait for a reply that never comes.
 */
export function containsQuery(command: string): boolean {
  let quote: string | undefined;
  for (const ch of command) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '?') {
      return true;
    }
  }
  return false;
}
