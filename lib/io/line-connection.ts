import { EventEmitter } from 'node:events';
import type { BackoffOptions } from './backoff';
import {
  ConnectionClosedError, ConnectionLostError, IoError, NotConnectedError, RepliesDiscardedError, showLine,
} from './errors';
import { InFlightRequests } from './in-flight-requests';
import { LineFramer, type LineFramerOptions } from './line-framer';
import { PendingRequest, type Reply } from './pending-request';
import { ReconnectLoop, type ConnectionStatus, type ReconnectEvents, type StatusDetail } from './reconnect-loop';
import { nextLine, type ReplyMatcher } from './reply-matchers';
import { RequestPipeline, type PipelineOptions } from './request-pipeline';
import type { Transport, TransportClosed } from './transport';

export type { ConnectionStatus, StatusDetail } from './reconnect-loop';
export type { PipelineOptions } from './request-pipeline';
export type { Reply } from './pending-request';

export interface LineConnectionEvents extends ReconnectEvents {
  /** The transport is open; requests can go out. Reply matching starts clean. */
  connected: [];
  /** `close()` finished: the transport is closed and nothing will reconnect. */
  closed: [];
  /** A line that belongs to no request (status report, alarm, banner, unsolicited output). */
  message: [line: string];
  /** A line longer than `framing.maxLineBytes` was cut and dropped; never matched to a request. */
  overlong: [info: { prefix: string; bytes: number }];
  /** The reply to a request that had already timed out or been aborted arrived, and was absorbed. */
  lateReply: [info: { request: string; final: string; parts: readonly string[] }];
}

export interface LineConnectionOptions {
  /** Incoming line framing: delimiter (default `\n`) and longest line (default 4096 bytes). */
  framing?: LineFramerOptions;
  /** Appended to every request and sent line. Default: the framing delimiter. */
  lineEnding?: string;
  /** Default reply matcher for `request()`. Default `nextLine`. */
  isReply?: ReplyMatcher;
  /** Default reply timeout for `request()`, ms. Default 2000. */
  timeoutMs?: number;
  pipeline?: PipelineOptions;
  /**
   * How long, after a request timed out or was aborted while owed a reply, its late reply is
   * still expected and absorbed rather than matched to the next request. While expected it
   * occupies its pipeline slot. Default: the request's own timeout. `Infinity` for devices that
   * always answer (GRBL), together with `discardPendingReplies()` when the device is reset.
   */
  lateReplyMs?: number;
  /** Reconnection backoff, or `false` to stay disconnected after a loss or failed open. */
  reconnect?: BackoffOptions | false;
  /** Random source for backoff jitter (tests pin it). */
  random?: () => number;
}

export interface RequestOptions {
  /** Reply timeout in ms, counted from when the line is written. Default: the connection's. */
  timeoutMs?: number;
  /** Aborting rejects the request with `signal.reason` at once (see `request`). */
  signal?: AbortSignal;
  /** Which lines make up the reply. Default: the connection's. */
  isReply?: ReplyMatcher;
  /**
   * Wait until no other request is owed a reply, and let nothing else out until this one's
   * reply is in (GRBL `$x=` settings, which must not be pipelined).
   */
  exclusive?: boolean;
}

export interface SendOptions {
  signal?: AbortSignal;
  exclusive?: boolean;
}

/**
 * A line-oriented connection to one device over any `Transport`: it frames incoming bytes into
 * lines, keeps the transport open (reconnecting with backoff), and matches requests to replies.
 * Every line-based driver (GRBL, SCPI, microcontrollers, UR dashboard) uses it unchanged and
 * only supplies reply matchers and pipeline limits. It composes four parts, each readable alone:
 * the framer (`LineFramer`: bytes to lines), reconnection (`ReconnectLoop`: attempts, backoff,
 * status), pipelining (`RequestPipeline`: the waiting queue and when its first entry may go) and
 * request/reply matching (`InFlightRequests`: which request a line answers, ghosts).
 *
 * Reply accounting: requests are written in FIFO order; those owed a reply form the in-flight
 * list, in write order. Each incoming line is offered to the oldest in-flight request's matcher
 * only; `'final'` completes it, `'part'` adds to it, `'push'` goes out as `'message'`. With no
 * request in flight every line is a `'message'`. A request that times out or is aborted after
 * it was written stays in the list as a ghost until its reply arrives (absorbed, `'lateReply'`)
 * or `lateReplyMs` passes, so a late reply is never taken for the next request's.
 */
export class LineConnection extends EventEmitter<LineConnectionEvents> {
  readonly transport: Transport;
  /** The transport's description; every error message starts with it. */
  readonly description: string;
  private readonly framing: LineFramerOptions;
  private readonly lineEnding: string;
  private readonly defaultMatcher: ReplyMatcher;
  private readonly defaultTimeoutMs: number;
  private readonly pipeline: RequestPipeline;
  private readonly inFlight: InFlightRequests;
  private readonly reconnection: ReconnectLoop;
  private framer: LineFramer | undefined;
  private closing: Promise<void> | undefined;

  /**
   * Creates a connection over `transport`; nothing happens until `open()`. Options are validated
   * here: a bad pipeline, timeout or backoff throws a `RangeError` naming the option.
   */
  constructor(transport: Transport, options: LineConnectionOptions = {}) {
    super();
    this.transport = transport;
    this.description = transport.description;
    this.framing = { ...options.framing };
    this.lineEnding = options.lineEnding ?? options.framing?.delimiter ?? '\n';
    this.defaultMatcher = options.isReply ?? nextLine;
    this.defaultTimeoutMs = options.timeoutMs ?? 2000;
    checkTimeout('timeoutMs', this.defaultTimeoutMs);
    this.pipeline = new RequestPipeline(options.pipeline);
    const lateReplyMs = options.lateReplyMs;
    if (lateReplyMs !== undefined && !(lateReplyMs >= 0)) throw new RangeError(`lateReplyMs must be 0 or more, got ${lateReplyMs}`);
    this.inFlight = new InFlightRequests(this.description, lateReplyMs, {
      message: (line) => this.emit('message', line),
      lateReply: (info) => this.emit('lateReply', info),
      freed: () => this.pump(),
    });
    this.reconnection = new ReconnectLoop(transport, (event, ...args) => this.emit(event, ...(args as never)), () => this.startSession(), {
      reconnect: options.reconnect,
      random: options.random,
    });
    // Validates the framing options now rather than at the first connect.
    new LineFramer(this.framing).destroy();
  }

  /** The current status (see `ConnectionStatus`). */
  get status(): ConnectionStatus {
    return this.reconnection.status;
  }

  /** Details of the current status: the last reason, the pending delay. */
  get statusDetail(): StatusDetail {
    return this.reconnection.statusDetail;
  }

  /** True while connected. */
  get isConnected(): boolean {
    return this.status === 'connected';
  }

  /** Requests written and still owed a reply (ghosts included): what the device has yet to answer. */
  get inFlightCount(): number {
    return this.inFlight.requests.length;
  }

  /** Requests and lines waiting for their turn. */
  get queuedCount(): number {
    return this.pipeline.length;
  }

  /**
   * Starts connecting and keeps the connection up: after a failed open or a lost session it
   * retries with exponential backoff (unless `reconnect: false`). Returns at once; watch the
   * events or `waitConnected()`. Calling it while connecting or connected does nothing; after
   * `close()` it throws a `ConnectionClosedError`.
   */
  open(): void {
    if (this.closing) throw new ConnectionClosedError(this.description, undefined);
    this.reconnection.start();
  }

  /**
   * Resolves when the connection is connected (at once if it is). Rejects with `signal.reason`
   * when `signal` fires, with a `ConnectionClosedError` if the connection is or gets closed, and
   * with a `NotConnectedError` when it is `disconnected` and not retrying.
   */
  waitConnected(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.status === 'closed' || this.closing) return Promise.reject(new ConnectionClosedError(this.description, undefined));
    if (this.status === 'connected') return Promise.resolve();
    if (this.status === 'disconnected') return Promise.reject(new NotConnectedError(this.description, undefined, this.statusDetail.reason ?? this.status));
    return new Promise((resolve, reject) => {
      const onStatus = (status: ConnectionStatus, detail: StatusDetail) => {
        if (status === 'connected') finish(resolve);
        else if (status === 'closed') finish(() => reject(new ConnectionClosedError(this.description, undefined)));
        else if (status === 'disconnected') finish(() => reject(new NotConnectedError(this.description, undefined, detail.reason ?? status)));
      };
      const onAbort = () => finish(() => reject(signal!.reason));
      const finish = (then: () => void) => {
        this.off('status', onStatus);
        signal?.removeEventListener('abort', onAbort);
        then();
      };
      this.on('status', onStatus);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Sends `line` (plus the line ending) and resolves with its reply.
   *
   * - Order: requests and `send()` lines go out strictly in call order (FIFO). A request is
   *   written when the pipeline has room: fewer than `maxInFlight` requests owed a reply, their
   *   bytes plus this one within `maxInFlightBytes` (or nothing in flight), and no exclusive
   *   request in flight; an `exclusive` request also waits for an empty pipeline.
   * - Reply: incoming lines are offered to the oldest request owed a reply (see the class doc);
   *   the request resolves with `{final, parts}` when its matcher says `'final'`. What the reply
   *   means (e.g. GRBL `error:9`) is the driver's business.
   * - Timeout: `timeoutMs` counts from the write; when it passes without a final line the
   *   request rejects with `RequestTimeoutError` ("no reply to "X" within N ms").
   * - Abort: when `signal` fires the promise rejects with `signal.reason` in the same turn. A
   *   request aborted before it was written is never written. One aborted after it was written
   *   keeps its place until its reply arrives or `lateReplyMs` passes (absorbed, `'lateReply'`).
   * - Connection: rejects at once with `NotConnectedError` unless connected. If the session is
   *   lost, queued and in-flight requests reject with `ConnectionLostError`; after `close()`,
   *   with `ConnectionClosedError`.
   * - `line` must not contain CR or LF (one request, one line): that rejects with an `IoError`.
   */
  request(line: string, options: RequestOptions = {}): Promise<Reply> {
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    checkTimeout('timeoutMs', timeoutMs);
    return this.enqueue(line, true, options.exclusive ?? false, options.isReply ?? this.defaultMatcher, timeoutMs, options.signal) as Promise<Reply>;
  }

  /**
   * Sends `line` (plus the line ending) that gets no reply (a SCPI command without `?`), in
   * FIFO order with requests and under the same pipeline rules, without taking a slot. Resolves
   * once written. Aborting before it is written rejects with `signal.reason` and it is never
   * written; connection errors as for `request()`.
   */
  send(line: string, options: SendOptions = {}): Promise<void> {
    return this.enqueue(line, false, options.exclusive ?? false, this.defaultMatcher, 0, options.signal) as Promise<unknown> as Promise<void>;
  }

  /**
   * Writes `bytes` at once, ahead of every queued request and line (real-time commands: GRBL
   * `!`, `?`, 0x18; SCPI device clear; stop frames). No line ending is added and no reply is
   * expected. Resolves once the transport has the bytes; rejects with `NotConnectedError` unless
   * connected. It does not wait for anything, so it also works while requests are stuck.
   */
  writeNow(bytes: Uint8Array | string): Promise<void> {
    const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
    if (this.status !== 'connected') {
      return Promise.reject(new NotConnectedError(this.description, undefined, this.status));
    }
    return this.transport.write(data);
  }

  /**
   * Declares that the device will not answer what it was sent (it was reset, which flushes its
   * input: GRBL soft reset). Every written request still owed a reply rejects with
   * `RepliesDiscardedError` naming `why`; late replies no longer expected are forgotten. Queued
   * requests stay queued and go out as the pipeline now has room.
   */
  discardPendingReplies(why: string): void {
    for (const pending of this.inFlight.takeAll()) {
      pending.settle(new RepliesDiscardedError(this.description, pending.line, why));
    }
    this.pump();
  }

  /**
   * Closes the connection for good: stops reconnection, rejects queued and in-flight requests
   * with `ConnectionClosedError`, closes the transport, and resolves only once the transport is
   * closed and no attempt or timer is left (then `'closed'` is emitted). Safe to call again;
   * later calls return the same promise.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      this.reconnection.stop(new ConnectionClosedError(this.description, undefined));
      this.failAll((pending) => new ConnectionClosedError(this.description, pending.line));
      // Closing the transport ends a live session, which lets the loop finish.
      await this.transport.close();
      await this.reconnection.finished();
      this.dropFramer();
      this.reconnection.setStatus('closed', {});
      this.emit('closed');
    })();
    return this.closing;
  }

  // ----- a session: framing wired to reply matching -----

  /** Wires a fresh framer to the open transport; resolves when the session ends. */
  private startSession(): Promise<TransportClosed> {
    const framer = new LineFramer(this.framing);
    this.framer = framer;
    framer.on('line', (line) => this.inFlight.offer(line));
    framer.on('overlong', (prefix, bytes) => this.emit('overlong', { prefix, bytes }));
    const onData = (chunk: Buffer) => framer.push(chunk);
    this.transport.on('data', onData);
    const ended = new Promise<TransportClosed>((resolve) => {
      this.transport.once('close', (closed) => {
        this.transport.off('data', onData);
        this.dropFramer();
        if (!closed.requested || !this.reconnection.stopped) {
          this.failAll((pending) => new ConnectionLostError(this.description, pending.line, closed.reason, pending.written));
        }
        resolve(closed);
      });
    });
    this.reconnection.setStatus('connected', {});
    this.emit('connected');
    this.pump();
    return ended;
  }

  private dropFramer(): void {
    this.framer?.destroy();
    this.framer = undefined;
  }

  // ----- requests -----

  private enqueue(line: string, expectsReply: boolean, exclusive: boolean, isReply: ReplyMatcher, timeoutMs: number, signal: AbortSignal | undefined): Promise<Reply | undefined> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (typeof line !== 'string' || /[\r\n]/.test(line)) {
      return Promise.reject(new IoError('ELINE', `${this.description}: cannot send ${showLine(String(line))}: a request is one line, without CR or LF`, {
        subject: this.description, operation: String(line), value: line,
      }));
    }
    if (this.closing) return Promise.reject(new ConnectionClosedError(this.description, line));
    if (this.status !== 'connected') {
      return Promise.reject(new NotConnectedError(this.description, line, this.status));
    }
    return new Promise<Reply | undefined>((resolve, reject) => {
      const pending = new PendingRequest(line, this.lineEnding, expectsReply, exclusive, isReply, timeoutMs, signal, resolve, reject);
      pending.onSignal(() => this.abortPending(pending));
      this.pipeline.add(pending);
      this.pump();
    });
  }

  /** Writes queued entries, in order, while the pipeline has room. */
  private pump(): void {
    while (this.status === 'connected') {
      const next = this.pipeline.next(this.inFlight.requests);
      if (!next) return;
      this.write(next);
    }
  }

  private write(pending: PendingRequest): void {
    pending.written = true;
    if (pending.expectsReply) this.inFlight.written(pending);
    this.transport.write(pending.bytes).then(
      () => {
        if (!pending.expectsReply) pending.settle(undefined);
      },
      (error: Error) => {
        this.inFlight.forget(pending);
        pending.settle(new IoError('EWRITE', `${this.description}: cannot send ${showLine(pending.line)}: ${error.message}`, {
          subject: this.description, operation: pending.line, cause: error,
        }));
        this.pump();
      },
    );
  }

  private abortPending(pending: PendingRequest): void {
    if (pending.settled) return;
    const wasQueued = !pending.written;
    if (wasQueued) this.pipeline.remove(pending);
    pending.settle(pending.signal!.reason);
    if (wasQueued) this.pump();
    else if (pending.expectsReply) this.inFlight.gaveUp(pending);
  }

  private failAll(errorFor: (pending: PendingRequest) => Error): void {
    for (const pending of [...this.inFlight.takeAll(), ...this.pipeline.takeAll()]) {
      pending.settle(errorFor(pending));
    }
  }
}

function checkTimeout(name: string, value: number): void {
  if (!(value > 0)) throw new RangeError(`${name} must be more than 0 ms (or Infinity), got ${value}`);
}
