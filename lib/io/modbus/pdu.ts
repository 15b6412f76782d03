import { ModbusExceptionError, ModbusReplyError, ModbusRequestError, hex2 } from './modbus-errors';

/**
 * Modbus PDUs (function code + data) for the eight data functions, the same on TCP and RTU:
 * a request's encoding, and the check and decoding of its reply. A reply that does not answer
 * its request (another function, a byte count that does not fit the count asked, a write echoed
 * with another address or value) is an error naming what was wrong, never values.
 */

export const enum FunctionCode {
  ReadCoils = 1,
  ReadDiscreteInputs = 2,
  ReadHoldingRegisters = 3,
  ReadInputRegisters = 4,
  WriteSingleCoil = 5,
  WriteSingleRegister = 6,
  WriteMultipleCoils = 15,
  WriteMultipleRegisters = 16,
}

/** The most items one request of each function may carry (Modbus Application Protocol V1.1b3 §6). */
export const FUNCTION_LIMITS: Readonly<Record<number, number>> = {
  1: 2000, 2: 2000, 3: 125, 4: 125, 5: 1, 6: 1, 15: 1968, 16: 123,
};

/** What each function is called in messages. */
const FUNCTION_NAMES: Readonly<Record<number, string>> = {
  1: 'read coils', 2: 'read discrete inputs', 3: 'read holding registers', 4: 'read input registers',
  5: 'write coil', 6: 'write register', 15: 'write coils', 16: 'write registers',
};

export type ReplyValue = boolean[] | number[] | undefined;

/**
 * One request through the bus: what is asked and, while it is out, where it stands. It is the
 * one object a request allocates besides its promise (the bus links queued requests through
 * `next`, keeps its transaction id and timer here).
 */
export class ModbusRequest {
  /** The next request in the same queue. */
  next: ModbusRequest | undefined = undefined;
  /** 0 queued, 1 written and owed a reply, 2 settled. */
  state = 0;
  /** The TCP transaction id once written. */
  tid = 0;
  timer: NodeJS.Timeout | undefined = undefined;
  /** Removes the abort listener, when a signal was given. */
  unlisten: (() => void) | undefined = undefined;

  constructor(
    /** How messages name the unit (`<bus> unit 3`). */
    readonly unitLabel: string,
    readonly unitId: number,
    readonly fc: FunctionCode,
    readonly address: number,
    /** Items read or written (1 for FC 5 and 6). */
    readonly count: number,
    /** FC 5: 1 or 0; FC 6: the register value; FC 15: booleans; FC 16: words. */
    readonly value: number | readonly boolean[] | readonly number[] | undefined,
    readonly stop: boolean,
    readonly timeoutMs: number,
    private readonly resolveReply: (value: ReplyValue) => void,
    private readonly rejectReply: (reason: unknown) => void,
  ) {}

  get settled(): boolean {
    return this.state === 2;
  }

  /** Settles once: a value or an error. Clears the timer and the abort listener. */
  settle(result: ReplyValue | Error): void {
    if (this.state === 2) return;
    this.state = 2;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.unlisten !== undefined) this.unlisten();
    if (result instanceof Error) this.rejectReply(result);
    else this.resolveReply(result);
  }

  /** Rejects with `reason` as it is (an abort signal's reason), unless settled already. */
  abort(reason: unknown): void {
    if (this.state === 2) return;
    this.state = 2;
    if (this.unlisten !== undefined) this.unlisten();
    this.rejectReply(reason);
  }

  /** The request as messages show it: `read 4 holding registers from 100`, `write register 26 = 1200`. */
  describe(): string {
    return describeRequest(this.fc, this.address, this.count, this.value);
  }

  /** Length of the request PDU, bytes. */
  pduLength(): number {
    switch (this.fc) {
      case FunctionCode.WriteMultipleCoils: return 6 + ((this.count + 7) >> 3);
      case FunctionCode.WriteMultipleRegisters: return 6 + 2 * this.count;
      default: return 5;
    }
  }

  /** Writes the request PDU at `at`; returns the offset after it. */
  writePdu(out: Buffer, at: number): number {
    out[at] = this.fc;
    out.writeUInt16BE(this.address, at + 1);
    switch (this.fc) {
      case FunctionCode.WriteSingleCoil:
        out.writeUInt16BE(this.value ? 0xff00 : 0, at + 3);
        return at + 5;
      case FunctionCode.WriteSingleRegister:
        out.writeUInt16BE(this.value as number, at + 3);
        return at + 5;
      case FunctionCode.WriteMultipleCoils: {
        const values = this.value as readonly boolean[];
        const bytes = (this.count + 7) >> 3;
        out.writeUInt16BE(this.count, at + 3);
        out[at + 5] = bytes;
        out.fill(0, at + 6, at + 6 + bytes);
        for (let i = 0; i < values.length; i++) if (values[i]) out[at + 6 + (i >> 3)] |= 1 << (i & 7);
        return at + 6 + bytes;
      }
      case FunctionCode.WriteMultipleRegisters: {
        const values = this.value as readonly number[];
        out.writeUInt16BE(this.count, at + 3);
        out[at + 5] = 2 * this.count;
        for (let i = 0; i < values.length; i++) out.writeUInt16BE(values[i], at + 6 + 2 * i);
        return at + 6 + 2 * this.count;
      }
      default:
        out.writeUInt16BE(this.count, at + 3);
        return at + 5;
    }
  }

  /**
   * Checks the reply PDU `bytes[start, end)` against this request and decodes it: the values
   * read, undefined for a write, or the error to reject with (an exception reply, or a reply
   * that does not answer this request).
   */
  decodeReply(bytes: Buffer, start: number, end: number): ReplyValue | Error {
    const length = end - start;
    const fc = length > 0 ? bytes[start] : -1;
    if (fc === (this.fc | 0x80)) {
      if (length !== 2) return this.badReply(`an exception reply of ${length} bytes (expected 2)`);
      return new ModbusExceptionError(this.unitLabel, this.describe(), bytes[start + 1]);
    }
    if (fc !== this.fc) {
      return this.badReply(length === 0 ? 'it is empty' : `it answers function ${fc} (${hex2(fc)}), not ${this.fc}`);
    }
    switch (this.fc) {
      case FunctionCode.ReadCoils:
      case FunctionCode.ReadDiscreteInputs: {
        const expected = (this.count + 7) >> 3;
        const problem = this.checkByteCount(bytes, start, length, expected);
        if (problem) return problem;
        const values = new Array<boolean>(this.count);
        for (let i = 0; i < this.count; i++) values[i] = (bytes[start + 2 + (i >> 3)] & (1 << (i & 7))) !== 0;
        return values;
      }
      case FunctionCode.ReadHoldingRegisters:
      case FunctionCode.ReadInputRegisters: {
        const problem = this.checkByteCount(bytes, start, length, 2 * this.count);
        if (problem) return problem;
        const values = new Array<number>(this.count);
        for (let i = 0, p = start + 2; i < this.count; i++, p += 2) values[i] = (bytes[p] << 8) | bytes[p + 1];
        return values;
      }
      default: {
        if (length !== 5) return this.badReply(`${length} bytes where the echo of a write has 5`);
        const address = bytes.readUInt16BE(start + 1);
        const echoed = bytes.readUInt16BE(start + 3);
        if (address !== this.address) return this.badReply(`it echoes address ${address}, not ${this.address}`);
        const expected = this.fc === FunctionCode.WriteSingleCoil ? (this.value ? 0xff00 : 0)
          : this.fc === FunctionCode.WriteSingleRegister ? (this.value as number) : this.count;
        if (echoed !== expected) {
          const what = this.fc === FunctionCode.WriteMultipleCoils || this.fc === FunctionCode.WriteMultipleRegisters ? 'count' : 'value';
          return this.badReply(`it echoes ${what} ${echoed}, not ${expected}`);
        }
        return undefined;
      }
    }
  }

  badReply(why: string): ModbusReplyError {
    return new ModbusReplyError(this.unitLabel, this.describe(), why);
  }

  private checkByteCount(bytes: Buffer, start: number, length: number, expected: number): ModbusReplyError | undefined {
    if (length < 2) return this.badReply('it ends before its byte count');
    const byteCount = bytes[start + 1];
    if (byteCount !== expected) return this.badReply(`byte count ${byteCount} where ${this.count} ${this.itemName()} take${this.count === 1 ? 's' : ''} ${expected}`);
    if (length !== 2 + byteCount) return this.badReply(`${length - 2} data bytes where its byte count says ${byteCount}`);
    return undefined;
  }

  private itemName(): string {
    const one = this.count === 1;
    return this.fc <= 2 ? (one ? 'bit' : 'bits') : one ? 'register' : 'registers';
  }
}

/** A request named before its count is known to be good: `write registers at 100`. */
export function describeAt(fc: number, address: unknown): string {
  const name = FUNCTION_NAMES[fc] ?? `function ${fc}`;
  return typeof address === 'number' && Number.isInteger(address) ? `${name} at ${address}` : name;
}

/** A request as messages show it. */
export function describeRequest(fc: number, address: number, count: number, value: unknown): string {
  const name = FUNCTION_NAMES[fc] ?? `function ${fc}`;
  switch (fc) {
    case FunctionCode.ReadCoils: return `read ${count} coil${count === 1 ? '' : 's'} from ${address}`;
    case FunctionCode.ReadDiscreteInputs: return `read ${count} discrete input${count === 1 ? '' : 's'} from ${address}`;
    case FunctionCode.ReadHoldingRegisters: return `read ${count} holding register${count === 1 ? '' : 's'} from ${address}`;
    case FunctionCode.ReadInputRegisters: return `read ${count} input register${count === 1 ? '' : 's'} from ${address}`;
    case FunctionCode.WriteSingleCoil: return `write coil ${address} = ${value ? 'on' : 'off'}`;
    case FunctionCode.WriteSingleRegister: return `write register ${address} = ${String(value)}`;
    case FunctionCode.WriteMultipleCoils: return `write ${count} coils from ${address} = ${shortList(value as readonly boolean[], (b) => (b ? '1' : '0'))}`;
    case FunctionCode.WriteMultipleRegisters: return `write ${count} registers from ${address} = ${shortList(value as readonly number[], String)}`;
    default: return name;
  }
}

function shortList<T>(values: readonly T[], show: (v: T) => string): string {
  const shown = values.slice(0, 8).map(show).join(',');
  return `[${shown}${values.length > 8 ? ',…' : ''}]`;
}

/**
 * Checks a request's arguments before it is queued: throws a `ModbusRequestError` naming the
 * unit, the function, the address and the offending value. Addresses are integers 0–65535 and
 * the block must end within them; counts are integers from 1 to the function's limit; register
 * values are integers 0–65535; coil values are booleans.
 */
export function checkRequest(unitLabel: string, fc: FunctionCode, address: unknown, count: unknown, value: unknown): void {
  const what = FUNCTION_NAMES[fc];
  const request = describeAt(fc, address);
  if (typeof address !== 'number' || !Number.isInteger(address) || address < 0 || address > 0xffff) {
    throw new ModbusRequestError(unitLabel, what, 'the address must be a whole number from 0 to 65535', address);
  }
  const limit = FUNCTION_LIMITS[fc];
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > limit) {
    throw new ModbusRequestError(unitLabel, request, `the count must be a whole number from 1 to ${limit}`, count);
  }
  if (address + count > 0x10000) {
    throw new ModbusRequestError(unitLabel, request, `${count} items from ${address} run past the last address 65535`, count);
  }
  switch (fc) {
    case FunctionCode.WriteSingleCoil:
      if (typeof value !== 'boolean') throw new ModbusRequestError(unitLabel, request, 'a coil value must be true or false', value);
      return;
    case FunctionCode.WriteSingleRegister:
      if (!isWord(value)) throw new ModbusRequestError(unitLabel, request, 'a register value must be a whole number from 0 to 65535', value);
      return;
    case FunctionCode.WriteMultipleCoils:
      for (const v of value as readonly unknown[]) {
        if (typeof v !== 'boolean') throw new ModbusRequestError(unitLabel, request, 'coil values must be true or false', value);
      }
      return;
    case FunctionCode.WriteMultipleRegisters:
      for (const v of value as readonly unknown[]) {
        if (!isWord(v)) throw new ModbusRequestError(unitLabel, request, 'register values must be whole numbers from 0 to 65535', value);
      }
      return;
    default:
  }
}

function isWord(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff;
}
