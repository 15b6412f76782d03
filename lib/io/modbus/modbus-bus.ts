import { EventEmitter } from 'node:events';
import { resolveBackoff, type BackoffOptions } from '../backoff';
import { createTransport } from '../create-transport';
import { parseEndpoint, describeEndpoint } from '../endpoint';
import { ConnectionClosedError, ConnectionLostError, NotConnectedError } from '../errors';
import { ReconnectLoop, type ConnectionStatus, type ReconnectEvents, type StatusDetail } from '../reconnect-loop';
import { defaultSerialSettings, type SerialSettings } from '../serial-transport';
import type { TcpSettings } from '../tcp-transport';
import type { Transport, TransportClosed } from '../transport';
import { FairQueue, UnitQueue } from './fair-queue';
import { ModbusReplyError, ModbusRequestError, ModbusTimeoutError, ModbusUnitIdError } from './modbus-errors';
import type { ModbusBusEvents, ModbusBusLink, ModbusRequestOptions, ModbusUnit } from './modbus-unit';
import type { ModbusWire, WireHost } from './modbus-wire';
import { FunctionCode, ModbusRequest, checkRequest, describeAt, type ReplyValue } from './pdu';
import { RtuWire, interFrameMs } from './rtu-wire';
import { TcpWire } from './tcp-wire';

export interface ModbusBusOptions {
  /** `'tcp'` (MBAP) or `'rtu'`. Default: `'tcp'` for a `tcp://` address, `'rtu'` for a serial path (RTU over TCP through a serial server needs `'rtu'`). */
  framing?: 'tcp' | 'rtu';
  /** Reply timeout of every request unless it gives its own, ms. Default 1000. */
  timeoutMs?: number;
  /** Modbus TCP: requests out at once on the connection, 1–64. Default 16. Stop requests may exceed it. */
  maxInFlight?: number;
  /** Modbus TCP: requests of one unit out at once, 1–maxInFlight. Default half of `maxInFlight` (at least 1). */
  maxInFlightPerUnit?: number;
  /** RTU: the silence the line must keep after a timeout or garbled bytes before the next request, ms. Default 50. */
  recoveryMs?: number;
  /** Serial line settings (RTU on a serial port). Default 9600 baud, 8N1. */
  serial?: SerialSettings;
  tcp?: TcpSettings;
  /** Reconnect backoff, or false to stay disconnected after a loss. */
  reconnect?: BackoffOptions | false;
  random?: () => number;
}

/** What the bus counted since it was made. */
export interface ModbusBusCounters {
  /** Requests that got a reply: values, an exception, or a reply that does not answer them (`badReplies`). */
  replies: number;
  /** Replies that did not answer their request (wrong function, byte count, echo, unit, CRC): the request failed with `ModbusReplyError`. */
  badReplies: number;
  timeouts: number;
  /** Replies and bytes thrown away: late replies after a timeout, frames from another unit, stray bytes. */
  discarded: number;
}

export interface ModbusBusAllEvents extends ModbusBusEvents {
  /** Bytes or a frame that answered no request were thrown away. */
  discarded: [why: string];
}

/** The line an RTU bus gets unless told otherwise: 9600 baud 8N1, as most controllers ship (the standard's default is 19200 baud, even parity). */
const RTU_SERIAL: SerialSettings = { baudRate: 9600, parity: 'none', stopBits: 1, dataBits: 8 };

/**
 * A Modbus client on one connection: a Modbus TCP socket or an RTU line (a serial port, or a
 * serial server's TCP port with `framing: 'rtu'`), shared by the devices on it through their
 * units (`unit(id)`). See `ModbusBusLink` and `ModbusUnit` for what devices rely on.
 *
 * Scheduling: the stop lane first, then the units in turn (`FairQueue`); on TCP up to
 * `maxInFlight` requests out (`maxInFlightPerUnit` per unit), on RTU one. Normal requests made
 * in the same turn of the event loop go out in one write; a stop request is written in the call
 * that makes it, ahead of whatever waits (on RTU once the request on the line has its reply or
 * its timeout: a half-duplex line cannot be interrupted). Every written request has a timeout.
 * Requests made while not connected reject at once with `NotConnectedError`; a session that
 * ends fails the requests out and waiting with `ConnectionLostError`, and the bus reconnects
 * with backoff while anyone holds it.
 */
export class ModbusBus extends EventEmitter<ModbusBusAllEvents> implements ModbusBusLink {
  readonly label: string;
  readonly framing: 'tcp' | 'rtu';
  readonly timeoutMs: number;
  readonly maxInFlight: number;
  readonly maxInFlightPerUnit: number;
  readonly counters: ModbusBusCounters = { replies: 0, badReplies: 0, timeouts: 0, discarded: 0 };
  private readonly transport: Transport;
  private readonly options: ModbusBusOptions;
  private readonly units = new Map<number, BusUnit>();
  private readonly queue = new FairQueue();
  private readonly wire: ModbusWire;
  private loop: ReconnectLoop | undefined;
  private currentStatus: ConnectionStatus = 'idle';
  private currentDetail: StatusDetail = {};
  private holders = 0;
  /** Set by `closeWhenReleased`: what the last release does instead of disconnecting. */
  private onReleased: (() => void) | undefined;
  private closedForGood = false;
  private stopping: Promise<void> | undefined;
  private pumpScheduled = false;
  /** Why the wire ended the session (a broken frame stream), for `down` and ConnectionLostError. */
  private brokenReason: string | undefined;
  /** Where a pump frames its requests before one write. */
  private scratch = Buffer.allocUnsafe(4096);
  private readonly host: WireHost;

  /**
   * A bus to `address` (`tcp://host:port`, port 502 when left out, or a serial device path).
   * Nothing connects until the first `acquire()`. Throws an `EndpointError` for a bad address
   * and a `RangeError` naming the option for a bad option.
   */
  constructor(address: string, options: ModbusBusOptions = {}) {
    super();
    // Every device on the bus listens to its status, up and down: many listeners is normal, not a leak.
    this.setMaxListeners(0);
    const endpoint = parseEndpoint(withDefaultPort(address));
    this.label = describeEndpoint(endpoint);
    this.framing = options.framing ?? (endpoint.kind === 'tcp' ? 'tcp' : 'rtu');
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.maxInFlight = this.framing === 'rtu' ? 1 : options.maxInFlight ?? 16;
    this.maxInFlightPerUnit = this.framing === 'rtu' ? 1 : options.maxInFlightPerUnit ?? Math.max(1, Math.floor(this.maxInFlight / 2));
    checkRange('timeoutMs', this.timeoutMs, 1, 3_600_000);
    checkRange('maxInFlight', this.maxInFlight, 1, 64, true);
    checkRange('maxInFlightPerUnit', this.maxInFlightPerUnit, 1, this.maxInFlight, true);
    const recoveryMs = options.recoveryMs ?? 50;
    checkRange('recoveryMs', recoveryMs, 0, 60_000);
    // Checked now rather than at the first acquire.
    if (options.reconnect !== false) resolveBackoff(options.reconnect ?? {});
    this.options = options;
    const serial = { ...RTU_SERIAL, ...stripUndefined(options.serial ?? {}) };
    this.transport = createTransport(endpoint, { serial, tcp: options.tcp });
    this.host = {
      replied: (request, result) => this.replied(request, result),
      discarded: (why) => {
        this.counters.discarded++;
        this.emit('discarded', why);
      },
      broken: (why) => this.breakSession(why),
      ready: () => this.pump(),
    };
    const settings = { ...defaultSerialSettings, ...serial };
    this.wire = this.framing === 'tcp'
      ? new TcpWire(this.host, this.maxInFlight)
      : new RtuWire(this.host, { interFrameMs: endpoint.kind === 'serial' ? interFrameMs(settings.baudRate, settings.parity, settings.stopBits) : 0, recoveryMs });
  }

  override on<K extends keyof ModbusBusAllEvents>(event: K, listener: (...args: ModbusBusAllEvents[K]) => void): this {
    return super.on(event, listener as never);
  }

  override off<K extends keyof ModbusBusAllEvents>(event: K, listener: (...args: ModbusBusAllEvents[K]) => void): this {
    return super.off(event, listener as never);
  }

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  get detail(): StatusDetail {
    return this.currentDetail;
  }

  /** The handle for `unitId`: the same object for the same id. Throws `ModbusUnitIdError` for an id that is not 1–247 (or 255 on TCP). */
  unit(unitId: number): ModbusUnit {
    const tcp = this.framing === 'tcp';
    if (typeof unitId !== 'number' || !Number.isInteger(unitId) || !((unitId >= 1 && unitId <= 247) || (tcp && unitId === 255))) {
      throw new ModbusUnitIdError(this.label, unitId, tcp);
    }
    let unit = this.units.get(unitId);
    if (!unit) {
      unit = new BusUnit(this, unitId);
      this.units.set(unitId, unit);
    }
    return unit;
  }

  /**
   * Holds the bus open: the first holder connects it (and it reconnects while held); the
   * returned release, called once per acquire, lets go, and the last release disconnects
   * (resolving once the transport is closed). After `close()` it throws `ConnectionClosedError`.
   */
  acquire(): () => Promise<void> {
    if (this.closedForGood) throw new ConnectionClosedError(this.label, undefined);
    this.holders++;
    if (this.holders === 1) this.start();
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      this.holders--;
      if (this.holders > 0 || this.closedForGood) return;
      if (this.onReleased) this.onReleased();
      else await this.stop(false);
    };
  }

  /**
   * Closes the bus for good once its last holder has released it, so that the devices on it
   * finish what they do as they close (a stop, a safe routine) over a working bus; after
   * `graceMs` it closes regardless. Resolves once closed.
   */
  closeWhenReleased(graceMs: number): Promise<void> {
    if (this.holders === 0 || this.closedForGood) return this.close();
    return new Promise<void>((resolve) => {
      const closeNow = () => {
        clearTimeout(timer);
        this.onReleased = undefined;
        void this.close().then(resolve, resolve);
      };
      const timer = setTimeout(closeNow, graceMs);
      this.onReleased = closeNow;
    });
  }

  /** Closes the bus for good (a redeploy): waiting and outstanding requests fail with `ConnectionClosedError`. */
  async close(): Promise<void> {
    this.closedForGood = true;
    await this.stop(true);
    this.setStatus('closed', {});
  }

  private start(): void {
    const begin = () => {
      const loop = new ReconnectLoop(this.transport, this.onLoopEvent, () => this.startSession(), {
        reconnect: this.options.reconnect, random: this.options.random,
      });
      this.loop = loop;
      loop.start();
    };
    // A release's teardown still under way: connect again once it is done.
    if (this.stopping) void this.stopping.then(() => { if (this.holders > 0 && !this.loop && !this.closedForGood) begin(); });
    else begin();
  }

  private stop(forGood: boolean): Promise<void> {
    const loop = this.loop;
    this.loop = undefined;
    const failAll = () => this.failWaiting((r) => new ConnectionClosedError(r.unitLabel, r.describe()));
    if (!loop) {
      failAll();
      return this.stopping ?? Promise.resolve();
    }
    const stopping = (async () => {
      loop.stop(new ConnectionClosedError(this.label, undefined));
      failAll();
      await this.transport.close();
      await loop.finished();
      if (!forGood) this.setStatus('idle', {});
    })();
    this.stopping = stopping.finally(() => { if (this.stopping === tracked) this.stopping = undefined; });
    const tracked = this.stopping;
    return tracked;
  }

  private readonly onLoopEvent = <K extends keyof ReconnectEvents>(event: K, ...args: ReconnectEvents[K]): void => {
    if (event === 'status') this.setStatus(...(args as ReconnectEvents['status']));
  };

  private setStatus(status: ConnectionStatus, detail: StatusDetail): void {
    if (this.loop === undefined && status !== 'idle' && status !== 'closed') return; // a stopped loop's last words
    this.currentStatus = status;
    this.currentDetail = detail;
    this.emit('status', status, detail);
  }

  private startSession(): Promise<TransportClosed> {
    this.brokenReason = undefined;
    const loop = this.loop;
    const onData = (chunk: Buffer) => {
      this.wire.receive(chunk);
      this.pump();
    };
    this.transport.on('data', onData);
    const ended = new Promise<TransportClosed>((resolve) => {
      this.transport.once('close', (closed) => {
        this.transport.off('data', onData);
        const reason = this.brokenReason ?? closed.reason;
        // Closed by the last release or by close(): what was out is dropped, not lost.
        const onPurpose = closed.requested && !this.brokenReason && this.loop !== loop;
        const outstanding = this.wire.reset();
        for (const request of outstanding) this.unitOf(request).inFlight--;
        for (const request of outstanding) {
          request.settle(onPurpose
            ? new ConnectionClosedError(request.unitLabel, request.describe())
            : new ConnectionLostError(request.unitLabel, request.describe(), reason, true));
        }
        this.failWaiting((r) => new ConnectionLostError(r.unitLabel, r.describe(), reason, false));
        this.emit('down', reason);
        resolve(this.brokenReason ? { requested: false, reason } : closed);
      });
    });
    this.loop?.setStatus('connected', {});
    this.emit('up');
    this.pump();
    return ended;
  }

  /** The wire cannot frame the stream any more: end the session (the loop reconnects). */
  private breakSession(why: string): void {
    if (this.brokenReason) return;
    this.brokenReason = why;
    void this.transport.close();
  }

  private failWaiting(errorFor: (request: ModbusRequest) => Error): void {
    for (const request of this.queue.takeAll()) request.settle(errorFor(request));
  }

  private unitOf(request: ModbusRequest): UnitQueue {
    return (this.units.get(request.unitId) as BusUnit).queue;
  }

  /** Queues a checked request; called by the unit handles. */
  request(unit: BusUnit, fc: FunctionCode, address: number, count: number, value: ModbusRequest['value'], options: ModbusRequestOptions | undefined): Promise<ReplyValue> {
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const timeoutMs = options?.timeoutMs ?? this.timeoutMs;
    if (timeoutMs !== this.timeoutMs && !(typeof timeoutMs === 'number' && timeoutMs >= 1 && timeoutMs <= 3_600_000)) {
      return Promise.reject(new ModbusRequestError(unit.label, describeAt(fc, address), 'the timeout must be a number of ms from 1 to 3600000', timeoutMs));
    }
    const priority = options?.priority;
    if (priority !== undefined && priority !== 'stop' && priority !== 'normal') {
      return Promise.reject(new ModbusRequestError(unit.label, describeAt(fc, address), "the priority must be 'stop' or 'normal'", priority));
    }
    if (this.closedForGood) return Promise.reject(new ConnectionClosedError(unit.label, describeAt(fc, address)));
    if (this.currentStatus !== 'connected') return Promise.reject(new NotConnectedError(unit.label, describeAt(fc, address), this.currentStatus));
    const stop = priority === 'stop';
    return new Promise<ReplyValue>((resolve, reject) => {
      const request = new ModbusRequest(unit.label, unit.unitId, fc, address, count, value, stop, timeoutMs, resolve, reject);
      if (signal) {
        const onAbort = () => {
          // Only a request still waiting is dropped: one on the wire runs to its reply or timeout.
          if (request.state === 0) request.abort(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        request.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      if (stop) {
        this.queue.pushStop(request);
        // A stop goes out now, in this turn, ahead of anything else.
        this.pump();
      } else {
        this.queue.push(unit.queue, request);
        if (!this.pumpScheduled) {
          this.pumpScheduled = true;
          queueMicrotask(this.scheduledPump);
        }
      }
    });
  }

  private readonly scheduledPump = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  /**
   * Writes waiting requests, stop lane first, while the wire has room, framed one after the
   * other into one write (RTU: the one request the line takes).
   */
  private pump(): void {
    if (this.currentStatus !== 'connected' || this.brokenReason) return;
    const wire = this.wire;
    let at = 0;
    for (;;) {
      let request: ModbusRequest | undefined;
      if (this.queue.hasStop()) {
        if (!wire.canSend(true)) break;
        request = this.queue.takeStop();
      } else {
        if (!wire.canSend(false)) break;
        request = this.queue.take(this.maxInFlightPerUnit);
      }
      if (request === undefined) break;
      const length = wire.frameLength(request);
      if (at + length > this.scratch.length) {
        const bigger = Buffer.allocUnsafe(2 * (at + length));
        this.scratch.copy(bigger, 0, 0, at);
        this.scratch = bigger;
      }
      request.state = 1;
      this.unitOf(request).inFlight++;
      at = wire.writeFrame(request, this.scratch, at);
      request.timer = setTimeout(this.timeoutOf, request.timeoutMs, request);
      if (this.framing === 'rtu') break;
    }
    if (at === 0) return;
    // A copy: the socket may hold on to it while the scratch buffer is reused.
    const out = Buffer.allocUnsafe(at);
    this.scratch.copy(out, 0, 0, at);
    // A failed write ends the session (the transport closes), which fails these requests.
    this.transport.write(out).catch(() => undefined);
  }

  private readonly timeoutOf = (request: ModbusRequest): void => {
    if (request.state !== 1) return;
    request.timer = undefined;
    this.wire.timedOut(request);
    this.unitOf(request).inFlight--;
    this.counters.timeouts++;
    request.settle(new ModbusTimeoutError(request.unitLabel, request.describe(), request.timeoutMs));
    this.pump();
  };

  private replied(request: ModbusRequest, result: ReplyValue | Error): void {
    this.unitOf(request).inFlight--;
    this.counters.replies++;
    if (result instanceof ModbusReplyError) this.counters.badReplies++;
    request.settle(result);
  }
}

/** One unit on a bus: checks each request's arguments, then queues it on the bus. */
class BusUnit implements ModbusUnit {
  readonly label: string;
  readonly queue: UnitQueue;

  constructor(private readonly bus: ModbusBus, readonly unitId: number) {
    this.label = `${bus.label} unit ${unitId}`;
    this.queue = new UnitQueue(unitId);
  }

  private call(fc: FunctionCode, address: number, count: number, value: ModbusRequest['value'], options: ModbusRequestOptions | undefined): Promise<ReplyValue> {
    try {
      checkRequest(this.label, fc, address, count, value);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.bus.request(this, fc, address, count, value, options);
  }

  private list<T>(fc: FunctionCode, address: number, values: readonly T[], options: ModbusRequestOptions | undefined): Promise<void> {
    if (!Array.isArray(values)) {
      return Promise.reject(new ModbusRequestError(this.label, describeAt(fc, address), 'the values must be an array', values));
    }
    return this.call(fc, address, values.length, values as never, options) as Promise<undefined>;
  }

  readCoils(address: number, count: number, options?: ModbusRequestOptions): Promise<boolean[]> {
    return this.call(FunctionCode.ReadCoils, address, count, undefined, options) as Promise<boolean[]>;
  }

  readDiscreteInputs(address: number, count: number, options?: ModbusRequestOptions): Promise<boolean[]> {
    return this.call(FunctionCode.ReadDiscreteInputs, address, count, undefined, options) as Promise<boolean[]>;
  }

  readHoldingRegisters(address: number, count: number, options?: ModbusRequestOptions): Promise<number[]> {
    return this.call(FunctionCode.ReadHoldingRegisters, address, count, undefined, options) as Promise<number[]>;
  }

  readInputRegisters(address: number, count: number, options?: ModbusRequestOptions): Promise<number[]> {
    return this.call(FunctionCode.ReadInputRegisters, address, count, undefined, options) as Promise<number[]>;
  }

  writeCoil(address: number, value: boolean, options?: ModbusRequestOptions): Promise<void> {
    return this.call(FunctionCode.WriteSingleCoil, address, 1, value as unknown as number, options) as Promise<undefined>;
  }

  writeCoils(address: number, values: readonly boolean[], options?: ModbusRequestOptions): Promise<void> {
    return this.list(FunctionCode.WriteMultipleCoils, address, values, options);
  }

  writeRegister(address: number, value: number, options?: ModbusRequestOptions): Promise<void> {
    return this.call(FunctionCode.WriteSingleRegister, address, 1, value, options) as Promise<undefined>;
  }

  writeRegisters(address: number, values: readonly number[], options?: ModbusRequestOptions): Promise<void> {
    return this.list(FunctionCode.WriteMultipleRegisters, address, values, options);
  }
}

/** `tcp://host` gets Modbus's port 502. */
function withDefaultPort(address: string): string {
  if (typeof address !== 'string') return address;
  const text = address.trim();
  return /^tcp:\/\/(\[[^\]]*\]|[^:/@?#\s]+)\/?$/i.test(text) ? `${text.replace(/\/$/, '')}:502` : text;
}

function checkRange(name: string, value: number, min: number, max: number, integer = false): void {
  if (typeof value !== 'number' || !(value >= min && value <= max) || (integer && !Number.isInteger(value))) {
    throw new RangeError(`Modbus bus: ${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got ${String(value)}`);
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
