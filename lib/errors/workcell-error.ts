/**
 * An error a user can meet: a clear sentence naming the thing involved (a device, a cell, a
 * run), the operation and the offending value, plus the same facts as fields so nodes can put
 * them on `msg.error` for Catch nodes.
 */
export class WorkcellError extends Error {
  override readonly name: string = 'WorkcellError';
  readonly code: string;
  readonly subject: string | undefined;
  readonly operation: string | undefined;
  readonly value: unknown;

  constructor(code: string, message: string, details: { subject?: string; operation?: string; value?: unknown; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.subject = details.subject;
    this.operation = details.operation;
    this.value = details.value;
  }
}

/** The longest a shown value gets before it is cut (with …). */
const SHOWN_LENGTH = 80;

/**
 * How a value appears in an error sentence: faithfully, briefly, and followed by its type in
 * brackets (`42 (number)`, `"42" (string)`, `[1,2] (array)`, `{"a":1} (object)`).
 * - strings are quoted, with JSON's escapes; numbers are written as JavaScript writes them,
 *   `NaN`, `Infinity` and `-0` included; a bigint ends in `n`; a symbol is `Symbol(description)`;
 *   a function is `function <name>` (never its source);
 * - arrays and plain objects are JSON-like, their contents shown by the same rules (so
 *   `undefined`, `NaN` and functions inside them are not dropped or changed as JSON would); a
 *   reference back to an enclosing object is `[circular]`;
 * - other objects are named by their class: `Date 2026-01-02T03:04:05.000Z`, `TypeError: boom`,
 *   `Map {"a" => 1}`, `Set [1]`, `<Buffer 01 ff>`, `Point {"x":1}`, and their type is the class;
 * - a value whose text is longer than 80 characters is cut, ending in `…`; a cut string says how
 *   many characters it has;
 * - `undefined` is `nothing` and `null` is `null` (no type);
 * - a value that throws while it is read (a throwing getter, a revoked proxy) is named by its
 *   type only: `[object that cannot be read] (object)`.
 */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  let text: string;
  try {
    text = shownText(value);
  } catch {
    // A getter or proxy that throws while it is read: say what it is, not what it holds.
    text = `[${typeName(value)} that cannot be read]`;
  }
  const chars = Array.from(text);
  const cut = chars.length > SHOWN_LENGTH;
  const shown = cut ? `${chars.slice(0, SHOWN_LENGTH - 1).join('')}…` : text;
  if (typeof value === 'string' && cut) return `${shown} (string of ${Array.from(value).length} characters)`;
  return `${shown} (${typeName(value)})`;
}

/** The type showValue names: `typeof`, except `array`, and the class of objects that are not plain. */
function typeName(value: unknown): string {
  if (typeof value !== 'object' || value === null) return typeof value;
  try {
    return className(value);
  } catch {
    return 'object'; // a revoked proxy
  }
}

function className(value: object): string {
  if (Array.isArray(value)) return 'array';
  const proto = Object.getPrototypeOf(value) as { constructor?: { name?: unknown } } | null;
  if (proto === null || proto === Object.prototype) return 'object';
  if (Buffer.isBuffer(value)) return 'Buffer';
  const name = proto.constructor?.name;
  return typeof name === 'string' && name ? name : 'object';
}

/** The text of a value for showValue, built only a little past the length it is cut at. */
function shownText(value: unknown): string {
  let out = '';
  const seen = new Set<object>();
  // Characters outside the BMP take two code units: past twice the length, it is surely cut.
  const full = () => out.length > 2 * SHOWN_LENGTH + 2;
  const put = (text: string) => {
    out += text;
  };
  const list = <T>(items: Iterable<T>, each: (item: T) => void) => {
    let first = true;
    for (const item of items) {
      if (full()) return;
      if (!first) put(',');
      first = false;
      each(item);
    }
  };
  const show = (v: unknown): void => {
    if (full()) return;
    switch (typeof v) {
      case 'string':
        // Only the start of a long string can be shown: quote no more of it than that.
        return put(JSON.stringify(v.length > 4 * SHOWN_LENGTH ? v.slice(0, 4 * SHOWN_LENGTH) : v));
      case 'number':
        return put(Object.is(v, -0) ? '-0' : String(v));
      case 'bigint':
        return put(`${v}n`);
      case 'boolean':
      case 'undefined':
        return put(String(v));
      case 'symbol':
        return put(v.toString());
      case 'function':
        return put(`function ${v.name || '(anonymous)'}`);
    }
    if (v === null) return put('null');
    const o = v as object;
    if (seen.has(o)) return put('[circular]');
    seen.add(o);
    if (Array.isArray(o)) {
      put('[');
      list(o, show);
      put(']');
    } else if (o instanceof Date) {
      put(`Date ${Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString()}`);
    } else if (o instanceof Error) {
      put(`${o.name}: ${o.message}`);
    } else if (Buffer.isBuffer(o)) {
      put('<Buffer');
      for (const b of o) {
        if (full()) break;
        put(` ${b.toString(16).padStart(2, '0')}`);
      }
      put('>');
    } else if (o instanceof Map) {
      put('Map {');
      list(o, ([k, x]) => {
        show(k);
        put(' => ');
        show(x);
      });
      put('}');
    } else if (o instanceof Set) {
      put('Set [');
      list(o, show);
      put(']');
    } else if (o instanceof RegExp) {
      put(String(o));
    } else {
      const type = typeName(o);
      if (type !== 'object') put(`${type} `);
      put('{');
      list(Object.keys(o), (k) => {
        put(`${JSON.stringify(k)}:`);
        show((o as Record<string, unknown>)[k]);
      });
      put('}');
    }
    seen.delete(o);
  };
  show(value);
  return out;
}
