/**
 * Response formatting as the instruments print it: Keysight answers numbers in NR3 with nine
 * significant digits and explicit signs (`+1.23456789E+00`); IEEE 488.2 leaves the exact width to
 * the maker, and drivers in the field parse these exact shapes, so the simulators copy them.
 */

/** Keysight-style NR3: sign, 9 significant digits, two-digit signed exponent (`-4.20000000E-03`). */
export function formatNR3(value: number, digits = 9): string {
  if (!Number.isFinite(value)) return value < 0 ? '-9.90000000E+37' : '+9.90000000E+37';
  const [mantissa, exponent] = value.toExponential(digits - 1).split('e');
  const sign = mantissa.startsWith('-') ? '-' : '+';
  const exp = Number(exponent);
  const expText = `${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return `${sign}${mantissa.replace('-', '')}E${expText}`;
}

/** NR1 integer, with a leading `+` for non-negative values when `signed` (Keysight) and bare otherwise (Rigol). */
export function formatNR1(value: number, signed: boolean): string {
  const n = Math.trunc(value);
  return n >= 0 && signed ? `+${n}` : String(n);
}

/** Fixed-point NR2 with `decimals` digits, as Rigol supplies print setpoints and readings (`5.0000`). */
export function formatFixed(value: number, decimals: number): string {
  const text = value.toFixed(decimals);
  // -0.0000 reads as a negative reading to a driver that checks the sign.
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

/** Quotes a string response the SCPI way: inner double quotes doubled. */
export function quoteString(text: string): string {
  return `"${text.replace(/"/g, '""')}"`;
}
