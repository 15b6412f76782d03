import { GANTRY_OPERATIONS } from '../../lib/devices/gantry/operations';
import { INSTRUMENT_OPERATIONS } from '../../lib/devices/instrument/operations';
import { INSTRUMENT_PRESETS, parseTelemetryQueries, type TelemetryQuery } from '../../lib/devices/instrument/presets';
import type { OperationTable } from '../../lib/device/operations';
import { WorkcellError, showValue } from '../../lib/errors/workcell-error';

/**
 * Every field the editor saves for a Workcell node, and how the runtime reads it: typed, bounded
 * and defaulted here, once, at the edge (mqtt.js's lesson); the nodes trust what they get.
 *
 * A saved value is read so:
 * - absent (a flow saved before the field existed, or written by hand): the field's default,
 *   which is what a new node gets in the editor unless the field says otherwise (an address
 *   the editor offers as an example to edit is not a default);
 * - blank (`''`, or only spaces): the default of an optional field, or "none" where blank means
 *   none (a sequence without a timeout); for a required field, and for a choice (always one of
 *   its values), it is invalid;
 * - otherwise it must fit the field's type and bounds. Numbers come as numbers or as the text
 *   the editor saves; durations keep each field's unit as the editor shows it (seconds for the
 *   cell's timeouts, milliseconds for the gantry's holds) and are read into milliseconds.
 *
 * A value that does not fit is never replaced by the default: the node is not configured, its
 * error names the node, the field and the value, and the node refuses to work (see
 * `configure`; the estop node alone still stops, see nodes/estop.ts). The editor's validators
 * accept exactly what this module accepts (tested against the `.html` files).
 */

/** A node's properties as Node-RED hands them to its constructor: what the editor saved. */
export interface SavedNode {
  id: string;
  type?: string;
  name?: unknown;
  [field: string]: unknown;
}

/** One field of a node's edit dialog, as the runtime reads it. */
export interface EditorField<T> {
  /** How error sentences name the field ("safe routine timeout"). */
  readonly label: string;
  /** What a new node gets in the editor: the field's entry in the `.html` `defaults`. */
  readonly editorDefault: unknown;
  /**
   * True when an absent value does not mean `editorDefault`: the editor's value is an example
   * to edit (an address), or an absent field keeps its meaning from before the field existed.
   */
  readonly absentDiffers?: boolean;
  /** What kind of field it is; `node-red` fields are Node-RED's own (a node's output count). */
  readonly kind: 'text' | 'number' | 'choice' | 'flag' | 'config-node' | 'object' | 'node-red';
  /** The value, typed; throws a FieldProblem when the saved value does not fit. */
  read(saved: unknown, node: SavedNode): T;
}

/** Why a saved value does not fit its field: what the field must be, or a whole sentence. */
export class FieldProblem extends Error {
  constructor(
    /** "a number of seconds from 0 to 3600", completed with the field and the value. */
    readonly expected: string,
    /** A sentence that stands on its own instead (it names the field itself). */
    readonly sentence?: string,
  ) {
    super(sentence ?? expected);
  }

  describe(label: string, saved: unknown): string {
    return this.sentence ?? `${label} must be ${this.expected}, got ${showValue(saved)}`;
  }
}

/** A node type's fields, and the rules between fields (a soft limit's min below its max). */
export interface FieldTable<V> {
  readonly fields: { readonly [K in keyof V]: EditorField<V[K]> };
  /** What is wrong between fields (a sentence naming them, and the field to show), checked once every field fits. */
  readonly check?: (values: V) => BetweenFields[];
}

/** A problem between fields: the sentence, and the field the node's status names. */
export interface BetweenFields {
  readonly field: string;
  readonly sentence: string;
}

/** What a field table reads: its values, typed. */
export type ConfigOf<T> = T extends FieldTable<infer V> ? V : never;

/** The typed values of a record of fields. */
export type FieldValues<F> = { [K in keyof F]: F[K] extends EditorField<infer T> ? T : never };

export function fieldTable<F extends Record<string, EditorField<unknown>>>(fields: F, check?: (values: FieldValues<F>) => BetweenFields[]): FieldTable<FieldValues<F>> {
  return { fields: fields as unknown as FieldTable<FieldValues<F>>['fields'], check };
}

/** A node whose configuration is invalid: every field that does not fit, in one sentence. */
export class InvalidConfiguration extends WorkcellError {
  constructor(
    who: string,
    /** One sentence per problem. */
    readonly problems: readonly string[],
    /** The labels of the fields at fault. */
    readonly fields: readonly string[],
  ) {
    super('invalid-configuration', `${who}: ${problems.join('; ')}`, { subject: who, operation: 'deploy' });
  }
}

/**
 * Read a node's saved fields with `table`. Throws an InvalidConfiguration naming `who` and every
 * field that does not fit (with its value) when one does not; the rules between fields are
 * checked once every field fits.
 */
export function readFields<V>(table: FieldTable<V>, saved: SavedNode, who: string): V {
  const problems: string[] = [];
  const labels: string[] = [];
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(table.fields)) {
    const field = (table.fields as Record<string, EditorField<unknown>>)[key];
    const value = saved[key];
    try {
      out[key] = field.read(value, saved);
    } catch (err) {
      if (!(err instanceof FieldProblem)) throw err;
      problems.push(err.describe(field.label, value));
      labels.push(field.label);
    }
  }
  if (problems.length === 0 && table.check) {
    for (const p of table.check(out as V)) {
      problems.push(p.sentence);
      labels.push(p.field);
    }
  }
  if (problems.length) throw new InvalidConfiguration(who, problems, labels);
  return out as V;
}

/** What a node needs to report a configuration problem. */
export interface ReportingNode {
  error(message: unknown): void;
  status(status: { fill?: 'red'; shape?: 'ring'; text?: string }): void;
}

export type Configured<V> = { readonly ok: true; readonly config: V } | { readonly ok: false; readonly error: InvalidConfiguration };

/**
 * Read a node's fields at deploy. When one does not fit, the node reports it (logged with
 * `node.error`, naming the node, the field and the value; its status names the fields) and gets
 * the error back, to refuse every message with it; it does not work on a default instead.
 */
export function configure<V>(node: ReportingNode, table: FieldTable<V>, saved: SavedNode, who: string): Configured<V> {
  try {
    return { ok: true, config: readFields(table, saved, who) };
  } catch (err) {
    if (!(err instanceof InvalidConfiguration)) throw err;
    node.error(err.message);
    const text = `invalid ${err.fields.join(', ')}`;
    node.status({ fill: 'red', shape: 'ring', text: text.length > 32 ? `${text.slice(0, 31)}…` : text });
    return { ok: false, error: err };
  }
}

/** How error sentences name a node: its kind and its name, else its id (`cell "Line 1"`, `wait 4f2a…`). */
export function nodeLabel(kind: string, saved: SavedNode): string {
  return typeof saved.name === 'string' && saved.name !== '' ? `${kind} ${JSON.stringify(saved.name)}` : `${kind} ${saved.id}`;
}

// ---------------------------------------------------------------------------------------------
// Field kinds

const isBlank = (saved: unknown): boolean => typeof saved === 'string' && saved.trim() === '';

/** A number as the editor saves it (a number, or its text), or undefined when it is not one. */
export function parseNumber(saved: unknown): number | undefined {
  if (typeof saved === 'number') return Number.isFinite(saved) ? saved : undefined;
  if (typeof saved !== 'string' || saved.trim() === '') return undefined;
  const n = Number(saved);
  return Number.isFinite(n) ? n : undefined;
}

interface Range {
  /** Bounds, inclusive; without them any finite number fits. */
  readonly min?: number;
  readonly max?: number;
  /** The minimum itself is not allowed ("greater than 0"). */
  readonly aboveMin?: boolean;
  readonly integer?: boolean;
  /** The unit the editor shows, named in sentences. */
  readonly unit?: 'seconds' | 'milliseconds';
  /** Said after the range: " (0 for none)". */
  readonly note?: string;
  /** What a blank optional field means, when not its default as a number ("none"). */
  readonly blankMeans?: string;
}

function rangeText(r: Range): string {
  const what = `${r.integer ? 'a whole number' : 'a number'}${r.unit ? ` of ${r.unit}` : ''}`;
  const bounds = r.min === undefined || r.max === undefined ? '' : r.aboveMin ? ` greater than ${r.min} and at most ${r.max}` : ` from ${r.min} to ${r.max}`;
  return `${what}${bounds}${r.note ?? ''}`;
}

function fits(n: number, r: Range): boolean {
  if (r.integer && !Number.isInteger(n)) return false;
  if (r.min !== undefined && (r.aboveMin ? n <= r.min : n < r.min)) return false;
  return r.max === undefined || n <= r.max;
}

/**
 * A number field. `blank`: what an empty field means: its default (an optional field), or
 * nothing (`required`: the editor refuses it too). `scale` turns the editor's unit into the
 * runtime's (1000 for seconds read as milliseconds).
 */
function numeric<T>(label: string, range: Range, editorDefault: unknown, whenBlank: { value: T } | 'required', scale = 1): EditorField<number | T> {
  const blankText = whenBlank === 'required' ? '' : `, or blank for ${range.blankMeans ?? (whenBlank.value === undefined ? 'none' : showDefault(editorDefault, range))}`;
  const expected = `${rangeText(range)}${blankText}`;
  return {
    label,
    editorDefault,
    kind: 'number',
    read(saved) {
      if (saved === undefined) saved = editorDefault;
      if (isBlank(saved)) {
        if (whenBlank === 'required') throw new FieldProblem(expected);
        return whenBlank.value;
      }
      const n = parseNumber(saved);
      if (n === undefined || !fits(n, range)) throw new FieldProblem(expected);
      return n * scale;
    },
  };
}

function showDefault(value: unknown, range: Range): string {
  return range.unit ? `${String(value)} ${range.unit === 'seconds' ? 's' : 'ms'}` : String(value);
}

/** A number; blank is invalid unless `optional` (then blank is the default). */
export function number(label: string, range: Range & { default: number; optional?: boolean }): EditorField<number> {
  return numeric(label, range, range.default, range.optional ? { value: range.default } : 'required') as EditorField<number>;
}

/** A number that may be left blank for none (the runtime then has none, or derives one). */
export function optionalNumber(label: string, range: Range): EditorField<number | undefined> {
  return numeric(label, range, '', { value: undefined });
}

/** A duration the editor shows in seconds, read into milliseconds; blank is invalid unless `optional` (then blank is the default). */
export function seconds(label: string, range: Omit<Range, 'unit'> & { default: number; optional?: boolean }): EditorField<number> {
  const r = { ...range, unit: 'seconds' as const };
  return numeric(label, r, range.default, range.optional ? { value: range.default * 1000 } : 'required', 1000) as EditorField<number>;
}

/** A duration in seconds that may be left blank for none, read into milliseconds. */
export function optionalSeconds(label: string, range: Omit<Range, 'unit'>): EditorField<number | undefined> {
  return numeric(label, { ...range, unit: 'seconds' }, '', { value: undefined }, 1000);
}

/** A duration the editor shows in milliseconds; blank is invalid. */
export function milliseconds(label: string, range: Omit<Range, 'unit'> & { default: number }): EditorField<number> {
  return numeric(label, { ...range, unit: 'milliseconds' }, range.default, 'required') as EditorField<number>;
}

/** One of a list of values (a select in the dialog); absent is the default, anything else not listed is invalid. */
export function choice<const T extends string | number>(label: string, values: readonly T[], defaultValue: T, options: { absent?: T } = {}): EditorField<T> {
  const expected = `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`;
  return {
    label,
    editorDefault: defaultValue,
    absentDiffers: options.absent !== undefined && options.absent !== defaultValue,
    kind: 'choice',
    read(saved) {
      if (saved === undefined) return options.absent ?? defaultValue;
      // Numeric choices (stop bits) are saved as text by a select.
      const found = values.find((v) => v === saved || (typeof v === 'number' && typeof saved === 'string' && saved.trim() !== '' && Number(saved) === v));
      if (found === undefined) throw new FieldProblem(expected);
      return found;
    },
  };
}

/** A checkbox: true or false (also as the text "true" / "false"); absent is the default. */
export function flag(label: string, defaultValue: boolean): EditorField<boolean> {
  return {
    label,
    editorDefault: defaultValue,
    kind: 'flag',
    read(saved) {
      if (saved === undefined || saved === '') return defaultValue;
      if (saved === true || saved === 'true') return true;
      if (saved === false || saved === 'false') return false;
      throw new FieldProblem('true or false');
    },
  };
}

interface TextOptions {
  /** What a new node gets in the editor (default ''). */
  editorDefault?: string;
  /** What an absent field means, when not `editorDefault` (an example address means no address). */
  absent?: string;
  /** Spaces around the text are dropped (addresses, commands); names are kept as typed. */
  trim?: boolean;
}

/** Text, typed by `parse` (the text itself without it), which throws a FieldProblem for text that does not fit. */
export function text(label: string, options?: TextOptions): EditorField<string>;
export function text<T>(label: string, options: TextOptions, parse: (text: string) => T): EditorField<T>;
export function text<T>(label: string, options: TextOptions = {}, parse?: (text: string) => T): EditorField<T | string> {
  const editorDefault = options.editorDefault ?? '';
  return {
    label,
    editorDefault,
    absentDiffers: options.absent !== undefined && options.absent !== editorDefault,
    kind: 'text',
    read(saved) {
      if (saved === undefined) saved = options.absent ?? editorDefault;
      if (typeof saved !== 'string') throw new FieldProblem('text');
      const t = options.trim ? saved.trim() : saved;
      return parse ? parse(t) : t;
    },
  };
}

/** The id of a config node (the cell, a device, a connection); blank when none is chosen. */
export function configNode(label: string): EditorField<string> {
  return {
    label,
    editorDefault: '',
    kind: 'config-node',
    read(saved) {
      if (saved === undefined || saved === null) return '';
      if (typeof saved !== 'string') throw new FieldProblem('the id of a config node (text)');
      return saved.trim();
    },
  };
}

/** A field Node-RED reads itself (a node's number of outputs); the node does not. */
export function nodeRedField(label: string, editorDefault: unknown): EditorField<undefined> {
  return { label, editorDefault, kind: 'node-red', read: () => undefined };
}

/** A field that only applies when `applies` holds (the delay of a wait in delay mode); otherwise it is its absent value, unchecked. */
export function onlyWhen<T>(applies: (node: SavedNode) => boolean, field: EditorField<T>): EditorField<T> {
  return { ...field, read: (saved, node) => field.read(applies(node) ? saved : undefined, node) };
}

/** One command per line, blank lines dropped; undefined when the field is blank. */
export function commandLines(text: string): string[] | undefined {
  if (text === '') return undefined;
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return lines.length ? lines : undefined;
}
