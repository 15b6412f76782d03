import * as net from 'node:net';
import { ServerSerial, ServerTCP } from 'modbus-serial';

/**
 * Modbus servers for the bus's tests: modbus-serial's own `ServerTCP` and `ServerSerial` (the
 * standard servers, to prove the bus talks to them) over a `MemoryUnits` data model, and a raw
 * Modbus TCP server on `net` for the tests that need a server to misbehave on purpose.
 */

/** A free TCP port on 127.0.0.1 (modbus-serial's ServerTCP takes port 0 for 502). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One unit's data: 1000 of each kind, addresses 0–999; anything above is exception 02. */
export class MemoryUnit {
  readonly coils = new Array<boolean>(1000).fill(false);
  readonly discreteInputs = new Array<boolean>(1000).fill(false);
  readonly holding = new Array<number>(1000).fill(0);
  readonly input = new Array<number>(1000).fill(0);
}

/**
 * Units 1–247 with their data, as a modbus-serial server vector. A unit in `silent` never
 * answers (its reads hang); a unit not in `present` answers nothing either.
 */
export class MemoryUnits {
  private readonly units = new Map<number, MemoryUnit>();
  readonly silent = new Set<number>();
  /** Every request the vector saw, as `unit:function:address`. */
  readonly seen: string[] = [];

  unit(id: number): MemoryUnit {
    let unit = this.units.get(id);
    if (!unit) {
      unit = new MemoryUnit();
      this.units.set(id, unit);
    }
    return unit;
  }

  private read<T>(unit: number, what: string, address: number, pick: (u: MemoryUnit) => T[]): T | Promise<T> {
    this.seen.push(`${unit}:${what}:${address}`);
    if (this.silent.has(unit)) return new Promise<T>(() => undefined);
    const values = pick(this.unit(unit));
    if (address >= values.length) throw { modbusErrorCode: 2, msg: 'no such address' };
    return values[address];
  }

  /** The vector for `new ServerTCP(vector, …)` / `new ServerSerial(vector, …)`: sync functions, by their arity. */
  vector(): object {
    return {
      getCoil: (address: number, unit: number) => this.read(unit, 'coil', address, (u) => u.coils),
      getDiscreteInput: (address: number, unit: number) => this.read(unit, 'input', address, (u) => u.discreteInputs),
      getHoldingRegister: (address: number, unit: number) => this.read(unit, 'holding', address, (u) => u.holding),
      getInputRegister: (address: number, unit: number) => this.read(unit, 'register', address, (u) => u.input),
      setRegister: (address: number, value: number, unit: number) => {
        this.seen.push(`${unit}:set-register:${address}`);
        if (this.silent.has(unit)) return new Promise(() => undefined);
        const u = this.unit(unit);
        if (address >= u.holding.length) throw { modbusErrorCode: 2, msg: 'no such register' };
        u.holding[address] = value;
      },
      setCoil: (address: number, value: boolean, unit: number) => {
        this.seen.push(`${unit}:set-coil:${address}`);
        if (this.silent.has(unit)) return new Promise(() => undefined);
        const u = this.unit(unit);
        if (address >= u.coils.length) throw { modbusErrorCode: 2, msg: 'no such coil' };
        u.coils[address] = value;
      },
    };
  }
}

/** modbus-serial's ServerTCP on 127.0.0.1 at a free port, started. */
export async function startServerTcp(units: MemoryUnits, port?: number): Promise<{ port: number; close(): Promise<void> }> {
  const at = port ?? await freePort();
  const server = new ServerTCP(units.vector() as never, { host: '127.0.0.1', port: at, unitID: 255 });
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('serverError', reject);
  });
  return {
    port: at,
    close: () => new Promise<void>((resolve) => {
      // Drop the open connections too, as a gateway that goes away does.
      const sockets = (server as unknown as { socks: Map<net.Socket, unknown> }).socks;
      for (const socket of sockets?.keys() ?? []) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A request as the raw server received it. */
export interface RawRequest {
  tid: number;
  unit: number;
  fc: number;
  address: number;
  /** The PDU after the function code. */
  data: Buffer;
}

/** What the raw server answers: a reply PDU, a whole raw frame (bytes as they are), or nothing. */
export type RawAnswer = { pdu: Buffer; tid?: number; unit?: number; delayMs?: number } | { raw: Buffer; delayMs?: number } | null;

/**
 * The normal answer: a read of registers gets each register holding its own address + `offset`;
 * a write (FC 5, 6, 15, 16) gets its echo.
 */
export function echoRegisters(request: RawRequest, offset = 0): RawAnswer {
  return { pdu: answerPdu(request, offset) };
}

/** The reply PDU `echoRegisters` answers with. */
export function answerPdu(request: RawRequest, offset = 0): Buffer {
  if ([5, 6, 15, 16].includes(request.fc)) return Buffer.concat([Buffer.from([request.fc]), request.data.subarray(0, 4)]);
  const count = request.data.readUInt16BE(2);
  const pdu = Buffer.alloc(2 + 2 * count);
  pdu[0] = request.fc;
  pdu[1] = 2 * count;
  for (let i = 0; i < count; i++) pdu.writeUInt16BE((request.address + i + offset) & 0xffff, 2 + 2 * i);
  return pdu;
}

/** The error `promise` rejects with; fails (with what it resolved to) when it resolves. */
export function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then((value) => { throw new Error(`expected a rejection, got ${JSON.stringify(value)}`); }, (error: Error) => error);
}

/** An MBAP frame around `pdu`. */
export function mbap(tid: number, unit: number, pdu: Buffer): Buffer {
  const header = Buffer.alloc(7);
  header.writeUInt16BE(tid, 0);
  header.writeUInt16BE(0, 2);
  header.writeUInt16BE(pdu.length + 1, 4);
  header[6] = unit;
  return Buffer.concat([header, pdu]);
}

/**
 * A Modbus TCP server on `net` that records every request in wire order and answers as
 * `answer` says (a test's misbehaving gateway). `pause()` holds every answer back until
 * `resume()`, so a test can queue requests against a server that is not answering yet.
 */
export class RawModbusServer {
  readonly requests: RawRequest[] = [];
  /** How many whole requests each chunk read from a socket completed. */
  readonly chunks: number[] = [];
  readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private held: (() => void)[] | undefined;
  port = 0;

  constructor(public answer: (request: RawRequest) => RawAnswer = echoRegisters) {}

  async listen(port = 0): Promise<number> {
    this.server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  pause(): void {
    this.held ??= [];
  }

  resume(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const send of held) send();
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      this.chunks.push(0);
      while (buffered.length >= 7 && buffered.length >= 6 + buffered.readUInt16BE(4)) {
        const end = 6 + buffered.readUInt16BE(4);
        const frame = buffered.subarray(0, end);
        buffered = buffered.subarray(end);
        const request: RawRequest = {
          tid: frame.readUInt16BE(0), unit: frame[6], fc: frame[7], address: frame.readUInt16BE(8), data: Buffer.from(frame.subarray(8)),
        };
        this.requests.push(request);
        this.chunks[this.chunks.length - 1]++;
        const answer = this.answer(request);
        if (!answer) continue;
        const bytes = 'raw' in answer ? answer.raw : mbap(answer.tid ?? request.tid, answer.unit ?? request.unit, answer.pdu);
        const send = () => { if (!socket.destroyed) socket.write(bytes); };
        if (this.held) this.held.push(send);
        else if (answer.delayMs) setTimeout(send, answer.delayMs);
        else send();
      }
    });
  }

  /** Drops every connection (the gateway restarts) but keeps listening. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** modbus-serial's ServerSerial (RTU) on the serial path `path` (one end of a pty pair), started. */
export async function startServerSerial(units: MemoryUnits, path: string, baudRate = 38400): Promise<{ close(): Promise<void> }> {
  const server = new ServerSerial(units.vector() as never, { path, baudRate, unitID: 255, interval: 5 } as never);
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('error', reject);
  });
  return {
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
