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

/** How a value appears in an error sentence: strings quoted, objects as JSON, with the type. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `${JSON.stringify(value.length > 80 ? value.slice(0, 77) + '...' : value)} (string)`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${value} (${typeof value})`;
  if (value === null) return 'null';
  try {
    const json = JSON.stringify(value);
    return `${json.length > 80 ? json.slice(0, 77) + '...' : json} (${Array.isArray(value) ? 'array' : typeof value})`;
  } catch {
    return String(value);
  }
}
