import { ModbusException, type ModbusSlave } from './modbus-slave';

/**
 * Serving one request PDU (function code and data) against a `ModbusSlave`, as the Modbus
 * Application Protocol V1.1b3 §6 specifies each function. Shared by the TCP and the RTU side of
 * `ModbusServer`: the reply PDU is written into a fresh buffer with room left before it (`head`,
 * the MBAP header or the RTU address) and after it (`tail`, the RTU CRC), so each reply costs one
 * allocation.
 */

/** Largest quantities per request (§6.1–6.12). */
const MAX_READ_BITS = 2000;
const MAX_READ_REGISTERS = 125;
const MAX_WRITE_COILS = 1968;
const MAX_WRITE_REGISTERS = 123;

/** A reply PDU in `buffer[head, head + length)`. */
export interface ReplyPdu {
  buffer: Buffer;
  length: number;
}

function exception(fc: number, code: number, head: number, tail: number): ReplyPdu {
  const buffer = Buffer.allocUnsafe(head + 2 + tail);
  buffer[head] = fc | 0x80;
  buffer[head + 1] = code;
  return { buffer, length: 2 };
}

function bitsReply(fc: number, bits: readonly boolean[], count: number, head: number, tail: number): ReplyPdu {
  const bytes = (count + 7) >> 3;
  const buffer = Buffer.alloc(head + 2 + bytes + tail);
  buffer[head] = fc;
  buffer[head + 1] = bytes;
  for (let i = 0; i < count; i++) if (bits[i]) buffer[head + 2 + (i >> 3)] |= 1 << (i & 7);
  return { buffer, length: 2 + bytes };
}

function registersReply(fc: number, words: readonly number[], count: number, head: number, tail: number): ReplyPdu {
  const buffer = Buffer.allocUnsafe(head + 2 + 2 * count + tail);
  buffer[head] = fc;
  buffer[head + 1] = 2 * count;
  for (let i = 0; i < count; i++) buffer.writeUInt16BE(words[i] & 0xffff, head + 2 + 2 * i);
  return { buffer, length: 2 + 2 * count };
}

/** The first 4 data bytes echoed (FC 5, 6: address and value; FC 15, 16: address and quantity). */
function echoReply(frame: Buffer, pdu: number, head: number, tail: number): ReplyPdu {
  const buffer = Buffer.allocUnsafe(head + 5 + tail);
  frame.copy(buffer, head, pdu, pdu + 5);
  return { buffer, length: 5 };
}

/**
 * The reply to the request PDU `frame[pdu, end)` from `slave`. Checks in the order of the
 * specification's state diagrams: an unknown function, or one the slave has no method for, is
 * exception 01; a quantity out of range or a byte count that does not match it, 03; a range
 * past address 65535, 02; then the slave decides (it throws `ModbusException` 02/03/04; any
 * other error it throws is 04). A request too short for its function is 03.
 */
export function replyTo(slave: ModbusSlave, frame: Buffer, pdu: number, end: number, head: number, tail: number): ReplyPdu {
  const fc = frame[pdu];
  const len = end - pdu;
  try {
    switch (fc) {
      case 1:
      case 2: {
        const read = fc === 1 ? slave.readCoils : slave.readDiscreteInputs;
        if (!read) return exception(fc, 1, head, tail);
        if (len !== 5) return exception(fc, 3, head, tail);
        const address = frame.readUInt16BE(pdu + 1);
        const count = frame.readUInt16BE(pdu + 3);
        if (count < 1 || count > MAX_READ_BITS) return exception(fc, 3, head, tail);
        if (address + count > 0x10000) return exception(fc, 2, head, tail);
        return bitsReply(fc, read.call(slave, address, count), count, head, tail);
      }
      case 3:
      case 4: {
        const read = fc === 3 ? slave.readHoldingRegisters : slave.readInputRegisters;
        if (!read) return exception(fc, 1, head, tail);
        if (len !== 5) return exception(fc, 3, head, tail);
        const address = frame.readUInt16BE(pdu + 1);
        const count = frame.readUInt16BE(pdu + 3);
        if (count < 1 || count > MAX_READ_REGISTERS) return exception(fc, 3, head, tail);
        if (address + count > 0x10000) return exception(fc, 2, head, tail);
        return registersReply(fc, read.call(slave, address, count), count, head, tail);
      }
      case 5: {
        if (!slave.writeCoil) return exception(fc, 1, head, tail);
        if (len !== 5) return exception(fc, 3, head, tail);
        const value = frame.readUInt16BE(pdu + 3);
        if (value !== 0xff00 && value !== 0x0000) return exception(fc, 3, head, tail);
        slave.writeCoil(frame.readUInt16BE(pdu + 1), value === 0xff00);
        return echoReply(frame, pdu, head, tail);
      }
      case 6: {
        if (!slave.writeRegister) return exception(fc, 1, head, tail);
        if (len !== 5) return exception(fc, 3, head, tail);
        slave.writeRegister(frame.readUInt16BE(pdu + 1), frame.readUInt16BE(pdu + 3));
        return echoReply(frame, pdu, head, tail);
      }
      case 15: {
        if (!slave.writeCoils) return exception(fc, 1, head, tail);
        if (len < 6) return exception(fc, 3, head, tail);
        const address = frame.readUInt16BE(pdu + 1);
        const count = frame.readUInt16BE(pdu + 3);
        const bytes = frame[pdu + 5];
        if (count < 1 || count > MAX_WRITE_COILS || bytes !== (count + 7) >> 3 || len !== 6 + bytes) return exception(fc, 3, head, tail);
        if (address + count > 0x10000) return exception(fc, 2, head, tail);
        const values = new Array<boolean>(count);
        for (let i = 0; i < count; i++) values[i] = (frame[pdu + 6 + (i >> 3)] & (1 << (i & 7))) !== 0;
        slave.writeCoils(address, values);
        return echoReply(frame, pdu, head, tail);
      }
      case 16: {
        if (!slave.writeRegisters) return exception(fc, 1, head, tail);
        if (len < 6) return exception(fc, 3, head, tail);
        const address = frame.readUInt16BE(pdu + 1);
        const count = frame.readUInt16BE(pdu + 3);
        const bytes = frame[pdu + 5];
        if (count < 1 || count > MAX_WRITE_REGISTERS || bytes !== 2 * count || len !== 6 + bytes) return exception(fc, 3, head, tail);
        if (address + count > 0x10000) return exception(fc, 2, head, tail);
        const values = new Array<number>(count);
        for (let i = 0; i < count; i++) values[i] = frame.readUInt16BE(pdu + 6 + 2 * i);
        slave.writeRegisters(address, values);
        return echoReply(frame, pdu, head, tail);
      }
      default:
        return exception(fc & 0x7f, 1, head, tail);
    }
  } catch (err) {
    return exception(fc, err instanceof ModbusException ? err.code : 4, head, tail);
  }
}

/** An exception reply PDU with `code`, for faults the server injects (04) or answers itself (0B). */
export function exceptionReply(fc: number, code: number, head: number, tail: number): ReplyPdu {
  return exception(fc & 0x7f, code, head, tail);
}

/** True for the functions that change data: the only ones a broadcast (unit 0) may carry. */
export function isWriteFunction(fc: number): boolean {
  return fc === 5 || fc === 6 || fc === 15 || fc === 16;
}

/**
 * The length of a whole RTU request frame (address, PDU and CRC) for function `fc`, once
 * `available` bytes of it are in: a number, `0` when more bytes are needed to know it (FC 15/16
 * before their byte count), or `-1` for a function whose request length the server does not know
 * (the frame then ends at the silence after it).
 */
export function rtuRequestLength(frame: Buffer, start: number, available: number): number {
  if (available < 2) return 0;
  const fc = frame[start + 1];
  if (fc >= 1 && fc <= 6) return 8;
  if (fc === 15 || fc === 16) return available < 7 ? 0 : 9 + frame[start + 6];
  return -1;
}
