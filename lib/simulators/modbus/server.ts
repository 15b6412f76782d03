import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { SerialPort } from 'serialport';
import { crc16 } from '../../io/modbus/crc16';
import { openSerialEndpoint } from '../../io/serve-on-serial';
import { TcpListener, type ListenAddress } from '../scpi/server';
import type { ModbusSlave } from './modbus-slave';
import { exceptionReply, isWriteFunction, replyTo, rtuRequestLength, type ReplyPdu } from './request-pdu';

/** Where a simulated unit lives on the server, with the faults injected into it. */
interface UnitEntry {
  slave: ModbusSlave;
  /** True: the unit answers nothing (a unit powered off or unplugged from the line). */
  silent: boolean;
  /** An exception code every request is answered with instead (04: device failure), or 0. */
  failWith: number;
}

/** The MBAP header: transaction id, protocol id (0), length, unit id. */
const MBAP = 7;
const EMPTY: Buffer = Buffer.alloc(0);

export interface RtuOptions {
  /** Default 19200: only the silence between frames depends on it (a pty ignores it). */
  baudRate?: number;
  /**
   * The silence that ends a frame, ms: by default t3.5 of the Modbus serial line specification
   * V1.02 §2.5.1.1 (3.5 characters of 11 bits at the baud rate; 1.75 ms above 19200 baud).
   */
  silenceMs?: number;
}

/** The silence t3.5 of the serial line specification at `baudRate`, ms. */
export function rtuSilenceMs(baudRate: number): number {
  return baudRate > 19200 ? 1.75 : (3.5 * 11 * 1000) / baudRate;
}

/**
 * A Modbus server for simulated units: a map of unit id → `ModbusSlave`, served over Modbus TCP
 * (MBAP framing, any number of connections at once) and over RTU on serial lines or any Duplex
 * (the simulator's end of a pseudo-terminal pair). Every request is answered in the tick it
 * completes, so a benchmark measures its client, not the simulator.
 *
 * Unit ids: on RTU, a frame for a unit the server does not have gets no answer (another slave on
 * the line may be the one addressed), and a frame for unit 0 is a broadcast: its write is done by
 * every unit that answers and none replies. On TCP, the server stands for a gateway in front of
 * its units (as a Modbus TCP-to-RTU gateway does), so a request for a unit it does not have is
 * answered at once with exception 0B, gateway target device failed to respond: a client set to
 * a wrong unit id learns it at once rather than after its timeout.
 *
 * Faults, per unit: `silence(unitId, true)` makes the unit answer nothing, on TCP as on RTU (the
 * client's request times out, as for a unit that lost power behind its gateway), and
 * `failWith(unitId, 4)` answers every request with that exception code (04: server device
 * failure) instead of serving it.
 *
 * RTU framing: a request is answered as soon as its last byte is in (its length follows from its
 * function code). A frame whose CRC is wrong is ignored, as a real slave ignores it, and so is
 * everything after it until the line has been silent for t3.5 (see `RtuOptions.silenceMs`); a
 * silence also ends an incomplete frame, which is dropped. A frame with a function the server
 * does not know ends at the silence after it and, with a good CRC, gets exception 01. What the
 * server throws away is told by a `'discarded'` event (`why`) once the silence after it has
 * passed and the line takes frames again.
 *
 * TCP framing: MBAP headers, frames split across packets or coalesced into one are both served;
 * a frame whose protocol id is not 0 is ignored; a length field outside 2–254 closes the
 * connection (the stream can no longer be framed).
 */
export class ModbusServer extends EventEmitter<{ discarded: [why: string] }> {
  private readonly units = new Map<number, UnitEntry>();
  private readonly tcp = new TcpListener((socket) => this.serveTcp(socket));
  private readonly detachers = new Set<() => void>();
  private readonly ports = new Set<SerialPort>();

  constructor(units: Iterable<[number, ModbusSlave]> | Record<number, ModbusSlave> = []) {
    super();
    const entries = Symbol.iterator in Object(units) ? (units as Iterable<[number, ModbusSlave]>) : Object.entries(units).map(([id, s]) => [Number(id), s] as [number, ModbusSlave]);
    for (const [id, slave] of entries) this.setUnit(id, slave);
  }

  /** Serve `slave` as unit `unitId` (1–247, or 255 for TCP-only devices), replacing any before it; faults are cleared. */
  setUnit(unitId: number, slave: ModbusSlave): void {
    if (!Number.isInteger(unitId) || unitId < 1 || unitId > 255) throw new RangeError(`Modbus simulator: a unit id must be a whole number 1–255, got ${unitId}`);
    this.units.set(unitId, { slave, silent: false, failWith: 0 });
  }

  /** The slave served as `unitId`, or undefined. */
  unit(unitId: number): ModbusSlave | undefined {
    return this.units.get(unitId)?.slave;
  }

  /** Stop serving `unitId`: it is then a unit the server does not have. */
  removeUnit(unitId: number): void {
    this.units.delete(unitId);
  }

  /** True: the unit answers nothing from now on; false: it answers again. */
  silence(unitId: number, silent: boolean): void {
    this.entry(unitId).silent = silent;
  }

  /** Answer every request to the unit with exception `code` (1–255; 4 is a device failure), or serve it again (null). */
  failWith(unitId: number, code: number | null): void {
    if (code !== null && !(Number.isInteger(code) && code >= 1 && code <= 255)) throw new RangeError(`Modbus simulator: an exception code must be 1–255, got ${code}`);
    this.entry(unitId).failWith = code ?? 0;
  }

  /** Listen for Modbus TCP clients; resolves with the bound address (port 0 picks a free port). */
  listenTcp(options: { host?: string; port?: number } = {}): Promise<ListenAddress> {
    return this.tcp.listen(options.host ?? '127.0.0.1', options.port ?? 502);
  }

  /** Number of TCP clients connected now. */
  get tcpClientCount(): number {
    return this.tcp.clientCount;
  }

  /** Drops every TCP client at once (a cable pull); the listener stays open. */
  dropTcpClients(): void {
    this.tcp.dropClients();
  }

  /**
   * Serve RTU on the serial device `path` (the simulator's end of a pty pair); resolves once the
   * port is open. The port is closed by `close()`.
   */
  async listenRtu(path: string, options: RtuOptions = {}): Promise<void> {
    const port = await openSerialEndpoint(path, options.baudRate ?? 19200);
    this.ports.add(port);
    const detach = this.attachRtu(port, options);
    port.once('close', () => {
      detach();
      this.ports.delete(port);
    });
  }

  /** Serve RTU over `stream`; returns a function that stops serving it (the stream stays open). */
  attachRtu(stream: Duplex, options: RtuOptions = {}): () => void {
    const silenceMs = options.silenceMs ?? rtuSilenceMs(options.baudRate ?? 19200);
    let pending = EMPTY;
    let discarding = false;
    let timer: NodeJS.Timeout | undefined;
    const onSilence = () => {
      timer = undefined;
      if (discarding) this.emit('discarded', 'a frame with a bad CRC and what followed it');
      else if (pending.length >= 4 && rtuRequestLength(pending, 0, pending.length) === -1 && crc16(pending) === 0) {
        this.serveRtuFrame(stream, pending, pending.length);
      } else if (pending.length > 0) this.emit('discarded', `an incomplete frame of ${pending.length} bytes`);
      pending = EMPTY;
      discarding = false;
    };
    const onData = (chunk: Buffer) => {
      if (!discarding) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length > 0) {
          const need = rtuRequestLength(pending, 0, pending.length);
          if (need <= 0 || pending.length < need) break;
          if (crc16(pending, 0, need) !== 0) {
            // A corrupted frame: where the next one begins is unknown until the line is silent.
            discarding = true;
            pending = EMPTY;
            break;
          }
          this.serveRtuFrame(stream, pending, need);
          pending = pending.subarray(need);
        }
      }
      clearTimeout(timer);
      timer = pending.length > 0 || discarding ? setTimeout(onSilence, silenceMs) : undefined;
    };
    stream.on('data', onData);
    const detach = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      this.detachers.delete(detach);
    };
    this.detachers.add(detach);
    return detach;
  }

  /** Stops serving: TCP clients dropped, the listener closed, serial ports closed, streams detached. */
  async close(): Promise<void> {
    for (const detach of [...this.detachers]) detach();
    const ports = [...this.ports];
    this.ports.clear();
    await Promise.all([
      this.tcp.close(),
      ...ports.map((p) => new Promise<void>((resolve) => (p.isOpen ? p.close(() => resolve()) : resolve()))),
    ]);
  }

  private entry(unitId: number): UnitEntry {
    const entry = this.units.get(unitId);
    if (!entry) throw new RangeError(`Modbus simulator: there is no unit ${unitId}`);
    return entry;
  }

  /** The reply PDU for a unit's request, or null for none (silenced). */
  private answer(entry: UnitEntry, frame: Buffer, pdu: number, end: number, head: number, tail: number): ReplyPdu | null {
    if (entry.silent) return null;
    if (entry.failWith) return exceptionReply(frame[pdu], entry.failWith, head, tail);
    return replyTo(entry.slave, frame, pdu, end, head, tail);
  }

  /** One whole RTU frame `frame[0, length)` with a good CRC. */
  private serveRtuFrame(stream: Duplex, frame: Buffer, length: number): void {
    const address = frame[0];
    if (address === 0) {
      if (!isWriteFunction(frame[1])) return;
      for (const entry of this.units.values()) if (!entry.silent && !entry.failWith) replyTo(entry.slave, frame, 1, length - 2, 0, 0);
      return;
    }
    const entry = this.units.get(address);
    if (!entry) return;
    const reply = this.answer(entry, frame, 1, length - 2, 1, 2);
    if (!reply) return;
    const { buffer } = reply;
    buffer[0] = address;
    const end = 1 + reply.length;
    const crc = crc16(buffer, 0, end);
    buffer[end] = crc & 0xff;
    buffer[end + 1] = crc >> 8;
    if (stream.writable) stream.write(buffer);
  }

  private serveTcp(socket: Duplex): void {
    let pending = EMPTY;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      // The replies to every request of this chunk leave in one write (pipelining clients send many).
      socket.cork();
      let at: number;
      try {
        at = this.serveTcpFrames(socket, pending);
      } finally {
        socket.uncork();
      }
      if (at >= 0) pending = at === pending.length ? EMPTY : pending.subarray(at);
    });
  }

  /** Serve every whole MBAP frame at the start of `pending`; returns where the rest begins, or −1 when the connection was closed. */
  private serveTcpFrames(socket: Duplex, pending: Buffer): number {
    let at = 0;
    while (pending.length - at >= MBAP + 1) {
      const length = pending.readUInt16BE(at + 4);
      if (length < 2 || length > 254) {
        socket.destroy();
        return -1;
      }
      const end = at + 6 + length;
      if (pending.length < end) break;
      if (pending.readUInt16BE(at + 2) === 0) this.serveTcpFrame(socket, pending, at, end);
      at = end;
    }
    return at;
  }

  /** One MBAP frame `frame[at, end)`. */
  private serveTcpFrame(socket: Duplex, frame: Buffer, at: number, end: number): void {
    const unitId = frame[at + 6];
    const entry = this.units.get(unitId);
    const reply = entry ? this.answer(entry, frame, at + MBAP, end, MBAP, 0) : exceptionReply(frame[at + MBAP], 0x0b, MBAP, 0);
    if (!reply) return;
    const { buffer } = reply;
    buffer.writeUInt16BE(frame.readUInt16BE(at), 0);
    buffer.writeUInt16BE(0, 2);
    buffer.writeUInt16BE(reply.length + 1, 4);
    buffer[6] = unitId;
    if (socket.writable) socket.write(buffer);
  }
}
