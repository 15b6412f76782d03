import type { ChannelRating } from './output-limits';

/** A named telemetry reading: the query that produces it. */
export interface TelemetryQuery {
  /** Key of the reading in the telemetry event (`voltage`, `ch1_current`). */
  readonly name: string;
  /** A query answering one number (`READ?`, `MEAS:CURR? CH1`). */
  readonly query: string;
}

/**
 * What the driver needs to know about an instrument model beyond SCPI itself. Every field is
 * a default the device config can override, so "generic" plus a few settings covers any SCPI
 * instrument.
 */
export interface InstrumentPreset {
  readonly id: string;
  readonly label: string;
  /** Query of the `measure` operation when the message gives none. */
  readonly measureQuery: string;
  /** Query of the `read` operation: one reading with the present settings, configuring nothing. */
  readonly readQuery: string;
  /**
   * The command that switches an output, with `{channel}` (1-based number) and `{state}`
   * (`ON`/`OFF`) placeholders; empty for instruments without outputs (a DMM).
   */
  readonly outputCommand: string;
  /** Number of outputs `output` accepts (channels 1…n); 0 without outputs. */
  readonly channels: number;
  /**
   * The outputs' ratings from the maker's data sheet, CH1 first: the default output limits
   * (checked before a level is sent, see output-limits.ts) and what `MAXimum` sets. Empty when
   * the model is not known (a generic instrument has no limits unless configured).
   */
  readonly ratings: readonly ChannelRating[];
  /** Sent first by `safe()`, in order: by default every output off. */
  readonly safeCommands: readonly string[];
  /** Written past anything queued to stop what the instrument is doing. */
  readonly stopCommand: string;
  /** Default telemetry readings. */
  readonly telemetry: readonly TelemetryQuery[];
}

/** The outputs-off commands of an instrument whose output command has a `{channel}` placeholder. */
function allOutputsOff(template: string, channels: number): string[] {
  return Array.from({ length: channels }, (_, i) => template.replace('{channel}', String(i + 1)).replace('{state}', 'OFF'));
}

const DP821_OUTPUT = ':OUTP CH{channel},{state}';

/**
 * The presets the editor offers. The 34461A and DP821 match the simulators in
 * `lib/simulators/scpi` (and the real units' command sets); "generic" assumes only IEEE 488.2
 * and the SCPI-99 `MEASure`/`READ`/`OUTPut` subsystems.
 */
export const INSTRUMENT_PRESETS: Readonly<Record<string, InstrumentPreset>> = {
  'keysight-34461a': {
    id: 'keysight-34461a',
    label: 'Keysight 34461A DMM',
    measureQuery: 'MEAS:VOLT:DC?',
    readQuery: 'READ?',
    outputCommand: '',
    channels: 0,
    ratings: [],
    safeCommands: [],
    stopCommand: 'ABOR',
    telemetry: [{ name: 'reading', query: 'READ?' }],
  },
  'rigol-dp821': {
    id: 'rigol-dp821',
    label: 'Rigol DP821 power supply',
    measureQuery: ':MEAS:VOLT? CH1',
    readQuery: ':MEAS:VOLT?',
    outputCommand: DP821_OUTPUT,
    channels: 2,
    // Rigol DP800 series data sheet: CH1 60 V / 1 A, CH2 8 V / 10 A.
    ratings: [
      { volts: 60, amps: 1 },
      { volts: 8, amps: 10 },
    ],
    safeCommands: allOutputsOff(DP821_OUTPUT, 2),
    stopCommand: 'ABOR',
    telemetry: [
      { name: 'ch1_voltage', query: ':MEAS:VOLT? CH1' },
      { name: 'ch1_current', query: ':MEAS:CURR? CH1' },
      { name: 'ch2_voltage', query: ':MEAS:VOLT? CH2' },
      { name: 'ch2_current', query: ':MEAS:CURR? CH2' },
    ],
  },
  generic: {
    id: 'generic',
    label: 'Generic SCPI instrument',
    measureQuery: 'MEAS?',
    readQuery: 'READ?',
    outputCommand: 'OUTP {state}',
    channels: 1,
    ratings: [],
    safeCommands: ['OUTP OFF'],
    stopCommand: 'ABOR',
    telemetry: [{ name: 'reading', query: 'READ?' }],
  },
};

/** The preset with `id`, or a RangeError naming the choices. */
export function instrumentPreset(id: string | undefined): InstrumentPreset {
  const preset = INSTRUMENT_PRESETS[id || 'generic'];
  if (!preset) throw new RangeError(`unknown instrument preset ${JSON.stringify(id)}; expected one of ${Object.keys(INSTRUMENT_PRESETS).join(', ')}`);
  return preset;
}

/**
 * Parses telemetry readings as typed in the editor, one per line: `name=QUERY` (`ch1_current=
 * MEAS:CURR? CH1`) or a bare query (named `reading`, then `reading2`, …). Blank lines are skipped.
 * Throws a RangeError naming the line for a name that is not an identifier or a query without `?`.
 */
export function parseTelemetryQueries(text: string): TelemetryQuery[] {
  const out: TelemetryQuery[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    // An = before any ? names the reading; a bare query may still hold = after its ?.
    const eq = line.indexOf('=');
    const named = eq >= 0 && (line.indexOf('?') < 0 || eq < line.indexOf('?'));
    const given = named ? line.slice(0, eq).trim() : undefined;
    if (given !== undefined && !/^[A-Za-z_]\w*$/.test(given)) {
      throw new RangeError(`telemetry line ${JSON.stringify(line)}: the name ${JSON.stringify(given)} is not a name (letters, digits and _, not starting with a digit)`);
    }
    const name = given ?? (out.some((q) => q.name === 'reading') ? `reading${out.length + 1}` : 'reading');
    const query = (named ? line.slice(eq + 1) : line).trim();
    if (!query.includes('?')) throw new RangeError(`telemetry line ${JSON.stringify(line)}: ${JSON.stringify(query)} is not a query (a query contains ?)`);
    if (out.some((q) => q.name === name)) throw new RangeError(`telemetry line ${JSON.stringify(line)}: the name ${name} is used twice`);
    out.push({ name, query });
  }
  return out;
}
