import { WorkcellError, showValue } from '../errors/workcell-error';

/** The parameter types an operation can declare. */
export type ParamType = 'number' | 'integer' | 'string' | 'boolean' | 'enum' | 'json';

/**
 * One parameter of a device operation, declared once: validation, the editor form and the help
 * text are all derived from this declaration.
 */
export interface ParamSpec {
  readonly name: string;
  readonly type: ParamType;
  readonly label: string;
  readonly description?: string;
  /** A missing required parameter without a default is an error. */
  readonly required?: boolean;
  readonly default?: unknown;
  /** Inclusive bounds for numbers and integers. */
  readonly min?: number;
  readonly max?: number;
  readonly unit?: string;
  /** Allowed values of an enum. */
  readonly values?: readonly string[];
  /** Longest allowed string. */
  readonly maxLength?: number;
  /**
   * Required only while another parameter of the operation (after its default) has the given
   * value, e.g. a feed rate while `rapid` is false.
   */
  readonly requiredWhen?: { readonly param: string; readonly equals: string | number | boolean };
}

/** One operation of a device kind. */
export interface OperationSpec {
  readonly name: string;
  readonly label: string;
  readonly description: string;
  readonly params: readonly ParamSpec[];
  /** What `msg.payload` carries after the operation. */
  readonly result?: string;
  /** True for operations that move something: refused while the device's position is untrusted. */
  readonly moves?: boolean;
  /** At least one of these parameters must be given (e.g. an axis of a move). */
  readonly atLeastOne?: readonly string[];
}

/** A device kind's declared operations, in display order. */
export type OperationTable = readonly OperationSpec[];

/** Find an operation by name, or throw a clear error naming the device and the choices. */
export function findOperation(device: string, table: OperationTable, name: unknown): OperationSpec {
  const op = typeof name === 'string' ? table.find((o) => o.name === name) : undefined;
  if (!op) {
    throw new WorkcellError(
      'unknown-operation',
      `${device}: unknown operation ${showValue(name)}; expected one of ${table.map((o) => o.name).join(', ')}`,
      { subject: device, operation: typeof name === 'string' ? name : showValue(name), value: name },
    );
  }
  return op;
}

/**
 * Check raw parameters (from the editor or a message) against an operation's declaration and
 * return them typed, with defaults filled in. Numbers given as numeric strings are accepted
 * (the editor stores strings); anything else of the wrong type, outside its bounds or not among
 * an enum's values is refused with a sentence naming the device, the operation, the parameter
 * and the value. Unknown parameters are refused too: a typo must not silently do nothing.
 * The operation's rules across parameters are checked last: a parameter `requiredWhen` another
 * has a value (after defaults) must be given then, and one of `atLeastOne` must be given.
 */
export function validateParams(device: string, op: OperationSpec, raw: unknown): Record<string, unknown> {
  const fail = (param: string, value: unknown, why: string): never => {
    throw new WorkcellError('invalid-parameter', `${device}: ${op.name}: parameter "${param}" ${why}, got ${showValue(value)}`, {
      subject: device,
      operation: op.name,
      value,
    });
  };
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new WorkcellError('invalid-parameters', `${device}: ${op.name}: parameters must be an object, got ${showValue(raw)}`, {
      subject: device,
      operation: op.name,
      value: raw,
    });
  }
  const input = (raw ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!op.params.some((p) => p.name === key)) {
      fail(key, input[key], `is not a parameter of ${op.name} (expected ${op.params.map((p) => p.name).join(', ') || 'none'})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const spec of op.params) {
    let value = input[spec.name];
    if (value === undefined || value === '' || value === null) {
      if (spec.default !== undefined) out[spec.name] = spec.default;
      else if (spec.required) fail(spec.name, value, 'is required');
      continue;
    }
    switch (spec.type) {
      case 'number':
      case 'integer': {
        if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) value = Number(value);
        if (typeof value !== 'number' || !Number.isFinite(value)) fail(spec.name, value, 'must be a finite number');
        const n = value as number;
        if (spec.type === 'integer' && !Number.isInteger(n)) fail(spec.name, value, 'must be a whole number');
        const unit = spec.unit ? ` ${spec.unit}` : '';
        if (spec.min !== undefined && n < spec.min) fail(spec.name, value, `must be at least ${spec.min}${unit}`);
        if (spec.max !== undefined && n > spec.max) fail(spec.name, value, `must be at most ${spec.max}${unit}`);
        out[spec.name] = n;
        break;
      }
      case 'boolean':
        if (value === 'true') value = true;
        if (value === 'false') value = false;
        if (typeof value !== 'boolean') fail(spec.name, value, 'must be true or false');
        out[spec.name] = value;
        break;
      case 'string':
        if (typeof value !== 'string') fail(spec.name, value, 'must be a string');
        if (spec.maxLength !== undefined && (value as string).length > spec.maxLength) fail(spec.name, value, `must be at most ${spec.maxLength} characters`);
        out[spec.name] = value;
        break;
      case 'enum':
        if (typeof value !== 'string' || !spec.values?.includes(value)) fail(spec.name, value, `must be one of ${spec.values?.join(', ')}`);
        out[spec.name] = value;
        break;
      case 'json':
        out[spec.name] = value;
        break;
    }
  }
  for (const spec of op.params) {
    const when = spec.requiredWhen;
    if (when && out[spec.name] === undefined && out[when.param] === when.equals) {
      fail(spec.name, input[spec.name], `is required when ${when.param} is ${JSON.stringify(when.equals)}`);
    }
  }
  if (op.atLeastOne && !op.atLeastOne.some((name) => out[name] !== undefined)) {
    throw new WorkcellError('invalid-parameters', `${device}: ${op.name}: give at least one of ${op.atLeastOne.join(', ')}`, {
      subject: device,
      operation: op.name,
      value: raw,
    });
  }
  return out;
}

/** The help text of a device kind's operations, in Node-RED's markdown help style. */
export function operationsHelp(table: OperationTable): string {
  const lines: string[] = [
    '### Operations',
    '',
    'Choose the operation in the editor or send `msg.operation`; parameters come from the editor, overlaid by `msg.params`, and are checked against the limits below before anything is sent.',
    '',
  ];
  for (const op of table) {
    lines.push(`#### ${op.label} (\`${op.name}\`)`, '', op.description, '');
    if (op.params.length) {
      lines.push('Parameters:', '');
      for (const p of op.params) {
        const bounds = [
          p.type === 'enum' ? `one of ${p.values?.map((v) => `\`${v}\``).join(', ')}` : p.type,
          p.unit ? `in ${p.unit}` : '',
          p.min !== undefined ? `≥ ${p.min}` : '',
          p.max !== undefined ? `≤ ${p.max}` : '',
          p.required && p.default === undefined ? 'required' : '',
          p.requiredWhen ? `required when \`${p.requiredWhen.param}\` is \`${JSON.stringify(p.requiredWhen.equals)}\`` : '',
          p.default !== undefined ? `default \`${JSON.stringify(p.default)}\`` : '',
        ].filter(Boolean);
        lines.push(`- \`msg.params.${p.name}\` — ${p.label}${p.description ? `: ${p.description}` : ''} (${bounds.join(', ')})`);
      }
      if (op.atLeastOne) lines.push(`At least one of ${op.atLeastOne.map((n) => `\`${n}\``).join(', ')} must be given.`, '');
      else lines.push('');
    }
    if (op.result) lines.push(`Output \`msg.payload\`: ${op.result}`, '');
  }
  return lines.join('\n');
}
