import { EventEmitter } from 'node:events';
import { backoffDelay, resolveBackoff, type BackoffOptions } from './backoff';
import {
  ConnectionClosedError, ConnectionLostError, IoError, NotConnectedError, RepliesDiscardedError,
  RequestTimeoutError, showLine,
} from './errors';
import { LineFramer, type LineFramerOptions } from './line-framer';
import { nextLine, type ReplyMatcher } from './reply-matchers';
import type { Transport, TransportClosed } from './transport';

/**
 * Where a connection is in its life:
 * - `idle`: created, `open()` not called yet;
 * - `connecting`: an open attempt is under way;
 * - `connected`: requests and writes go out;
 * - `reconnecting`: the last attempt failed or the session was lost; the next attempt is scheduled;
 * - `disconnected`: lost or failed with reconnection turned off; `open()` tries again;
 * - `closed`: `close()` was called; final.
 */
export type ConnectionStatus = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected' | 'closed';

/** Details that come with a status change, for display. */
export interface StatusDetail {
  /** Why the session ended or the attempt failed. */
  reason?: string;
  /** For `reconnecting`: the delay before the next attempt. */
  inMs?: number;
  /** For `connecting`/`reconnecting`: retry number since the last good session (0 = first try). */
  attempt?: number;
}

export interface LineConnectionEvents {
  /** An open attempt starts. `attempt` is 0 for the first, n for the n-th retry. */
  connecting: [info: { attempt: number }];
  /** The transport is open; requests can go out. Reply matching starts clean. */
  connected: [];
  /** An open attempt failed. */
  connectFailed: [info: { error: Error; attempt: number }];
  /** A connected session ended without `close()`: unplugged, peer closed, reset. */
  disconnected: [info: { reason: string; error?: Error }];
  /** The next open attempt will start in `inMs` ms. */
  reconnecting: [info: { inMs: number; attempt: number }];
  /** `close()` finished: the transport is closed and nothing will reconnect. */
  closed: [];
  /** Every status change, with the same details as the specific event (convenient for fan-out). */
  status: [status: ConnectionStatus, detail: StatusDetail];
  /** A line that belongs to no request (status report, alarm, banner, unsolicited output). */
  message: [line: string];
  /** A line longer than `framing.maxLineBytes` was cut and dropped; never matched to a request. */
  overlong: [info: { prefix: string; bytes: number }];
  /** The reply to a request that had already timed out or been aborted arrived, and was absorbed. */
  lateReply: [info: { request: string; final: string; parts: readonly string[] }];
}

/** Pipelining limits: how much may be sent ahead of the replies. */
export interface PipelineOptions {
  /** Requests written and still owed a reply, at most. Default 1 (strict send-response). */
  maxInFlight?: number;
  /**
   * Bytes (line ending included) of requests still owed a reply, at most; a request that does
   * not fit waits, unless nothing is in flight. GRBL character counting: 128. Default unlimited.
   */
  maxInFlightBytes?: number;
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

/** A complete reply. */
export interface Reply {
  /** The line the matcher called final. */
  final: string;
  /** Lines the matcher called parts, in arrival order. */
  parts: readonly string[];
}

interface Pending {
  readonly line: string;
  readonly bytes: Buffer;
  readonly expectsReply: boolean;
  readonly exclusive: boolean;
  readonly isReply: ReplyMatcher;
  readonly timeoutMs: number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (value: Reply | undefined) => void;
  readonly reject: (error: unknown) => void;
  parts: string[];
  settled: boolean;
  written: boolean;
  /** Settled (timed out or aborted) but its reply is still expected and absorbed. */
  ghost: boolean;
  timer?: NodeJS.Timeout;
  onAbort?: () => void;
}

/**
 * A line-oriented connection to one device over any `Transport`: it frames incoming bytes into
 * lines, keeps the transport open (reconnecting with backoff), and matches requests to replies.
 * Every line-based driver (GRBL, SCPI, microcontrollers, UR dashboard) uses it unchanged and
 * only supplies reply matchers and pipeline limits.
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
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;
  private readonly lateReplyMs: number | undefined;
  private readonly backoff: BackoffOptions | false;
  private readonly random: () => number;

  private currentStatus: ConnectionStatus = 'idle';
  private currentDetail: StatusDetail = {};
  private queue: Pending[] = [];
  private inFlight: Pending[] = [];
  private framer: LineFramer | undefined;
  private loop: Promise<void> | undefined;
  /** Aborted by `close()`: ends a backoff wait or an open attempt at once. */
  private readonly lifetime = new AbortController();
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
    this.maxInFlight = options.pipeline?.maxInFlight ?? 1;
    this.maxInFlightBytes = options.pipeline?.maxInFlightBytes ?? Infinity;
    if (!(Number.isInteger(this.maxInFlight) && this.maxInFlight >= 1)) {
      throw new RangeError(`pipeline.maxInFlight must be a whole number, 1 or more, got ${this.maxInFlight}`);
    }
    if (!(this.maxInFlightBytes >= 1)) throw new RangeError(`pipeline.maxInFlightBytes must be 1 or more, got ${this.maxInFlightBytes}`);
    this.lateReplyMs = options.lateReplyMs;
    if (this.lateReplyMs !== undefined && !(this.lateReplyMs >= 0)) throw new RangeError(`lateReplyMs must be 0 or more, got ${this.lateReplyMs}`);
    this.backoff = options.reconnect === false ? false : resolveBackoff(options.reconnect ?? {});
    this.random = options.random ?? Math.random;
    // Validates the framing options now rather than at the first connect.
    new LineFramer(this.framing).destroy();
  }

  /** The current status (see `ConnectionStatus`). */
  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** Details of the current status: the last reason, the pending delay. */
  get statusDetail(): StatusDetail {
    return this.currentDetail;
  }

  /** True while connected. */
  get isConnected(): boolean {
    return this.currentStatus === 'connected';
  }

  /** Requests written and still owed a reply (ghosts included): what the device has yet to answer. */
  get inFlightCount(): number {
    return this.inFlight.length;
  }

  /** Requests and lines waiting for their turn. */
  get queuedCount(): number {
    return this.queue.length;
  }

  /**
   * Starts connecting and keeps the connection up: after a failed open or a lost session it
   * retries with exponential backoff (unless `reconnect: false`). Returns at once; watch the
   * events or `waitConnected()`. Calling it while connecting or connected does nothing; after
   * `close()` it throws a `ConnectionClosedError`.
   */
  open(): void {
    if (this.closing) throw new ConnectionClosedError(this.description, undefined);
    if (this.loop) return;
    this.loop = this.keepConnected().finally(() => { this.loop = undefined; });
  }

  /**
   * Resolves when the connection is connected (at once if it is). Rejects with `signal.reason`
   * when `signal` fires, with a `ConnectionClosedError` if the connection is or gets closed, and
   * with a `NotConnectedError` when it is `disconnected` and not retrying.
   */
  waitConnected(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.currentStatus === 'connected') return Promise.resolve();
    if (this.currentStatus === 'closed' || this.closing) return Promise.reject(new ConnectionClosedError(this.description, undefined));
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
    if (this.currentStatus !== 'connected') {
      return Promise.reject(new NotConnectedError(this.description, undefined, this.currentStatus));
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
    const owed = this.inFlight;
    this.inFlight = [];
    for (const pending of owed) {
      this.settle(pending, new RepliesDiscardedError(this.description, pending.line, why));
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
      this.lifetime.abort(new ConnectionClosedError(this.description, undefined));
      this.failAll((pending) => new ConnectionClosedError(this.description, pending.line));
      // Closing the transport ends a live session, which lets the loop finish.
      await this.transport.close();
      if (this.loop) await this.loop;
      this.dropFramer();
      this.setStatus('closed', {});
      this.emit('closed');
    })();
    return this.closing;
  }

  // ----- connection lifecycle -----

  private async keepConnected(): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.lifetime.signal.aborted) return;
      this.setStatus('connecting', { attempt });
      this.emit('connecting', { attempt });
      let ended: Promise<TransportClosed>;
      try {
        await this.transport.open(this.lifetime.signal);
        if (this.lifetime.signal.aborted) {
          await this.transport.close();
          return;
        }
        ended = this.startSession();
      } catch (error) {
        if (this.lifetime.signal.aborted) return;
        const failure = error instanceof Error ? error : new Error(String(error));
        this.emit('connectFailed', { error: failure, attempt });
        if (!(await this.waitToRetry(++attempt, failure.message))) return;
        continue;
      }
      const closed = await ended;
      if (this.lifetime.signal.aborted) return;
      attempt = 0;
      this.emit('disconnected', { reason: closed.reason, error: closed.error });
      if (!(await this.waitToRetry(++attempt, closed.reason))) return;
    }
  }

  /** Waits the backoff delay for `attempt`; false when the loop should stop. */
  private async waitToRetry(attempt: number, reason: string): Promise<boolean> {
    if (this.backoff === false) {
      this.setStatus('disconnected', { reason });
      return false;
    }
    const inMs = backoffDelay(attempt, this.backoff, this.random);
    this.setStatus('reconnecting', { reason, inMs, attempt });
    this.emit('reconnecting', { inMs, attempt });
    return sleep(inMs, this.lifetime.signal);
  }

  /** Wires a fresh framer to the open transport; resolves when the session ends. */
  private startSession(): Promise<TransportClosed> {
    const framer = new LineFramer(this.framing);
    this.framer = framer;
    framer.on('line', (line) => this.onLine(line));
    framer.on('overlong', (prefix, bytes) => this.emit('overlong', { prefix, bytes }));
    const onData = (chunk: Buffer) => framer.push(chunk);
    this.transport.on('data', onData);
    const ended = new Promise<TransportClosed>((resolve) => {
      this.transport.once('close', (closed) => {
        this.transport.off('data', onData);
        this.dropFramer();
        if (!closed.requested || !this.lifetime.signal.aborted) {
          this.failAll((pending) => new ConnectionLostError(this.description, pending.line, closed.reason, pending.written));
        }
        resolve(closed);
      });
    });
    this.setStatus('connected', {});
    this.emit('connected');
    this.pump();
    return ended;
  }

  private dropFramer(): void {
    this.framer?.destroy();
    this.framer = undefined;
  }

  private setStatus(status: ConnectionStatus, detail: StatusDetail): void {
    this.currentStatus = status;
    this.currentDetail = detail;
    this.emit('status', status, detail);
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
    if (this.currentStatus !== 'connected') {
      return Promise.reject(new NotConnectedError(this.description, line, this.currentStatus));
    }
    return new Promise<Reply | undefined>((resolve, reject) => {
      const pending: Pending = {
        line, bytes: Buffer.from(line + this.lineEnding, 'utf8'), expectsReply, exclusive, isReply, timeoutMs, signal,
        resolve, reject, parts: [], settled: false, written: false, ghost: false,
      };
      if (signal) {
        pending.onAbort = () => this.abortPending(pending);
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.queue.push(pending);
      this.pump();
    });
  }

  /** Writes queued entries, in order, while the pipeline has room. */
  private pump(): void {
    while (this.queue.length > 0 && this.currentStatus === 'connected') {
      const next = this.queue[0];
      if (!this.hasRoomFor(next)) return;
      this.queue.shift();
      this.write(next);
    }
  }

  private hasRoomFor(next: Pending): boolean {
    if (this.inFlight.some((p) => p.exclusive)) return false;
    if (this.inFlight.length === 0) return true;
    if (next.exclusive || this.inFlight.length >= this.maxInFlight) return false;
    if (!next.expectsReply) return true;
    const bytes = this.inFlight.reduce((sum, p) => sum + p.bytes.length, 0);
    return bytes + next.bytes.length <= this.maxInFlightBytes;
  }

  private write(pending: Pending): void {
    pending.written = true;
    if (pending.expectsReply) {
      this.inFlight.push(pending);
      if (Number.isFinite(pending.timeoutMs)) {
        pending.timer = setTimeout(() => this.timeOut(pending), pending.timeoutMs);
      }
    }
    this.transport.write(pending.bytes).then(
      () => { if (!pending.expectsReply) this.settle(pending, undefined, { final: '', parts: [] }); },
      (error: Error) => {
        this.forget(pending);
        this.settle(pending, new IoError('EWRITE', `${this.description}: cannot send ${showLine(pending.line)}: ${error.message}`, {
          subject: this.description, operation: pending.line, cause: error,
        }));
        this.pump();
      },
    );
  }

  private onLine(line: string): void {
    const head = this.inFlight[0];
    if (!head) {
      this.emit('message', line);
      return;
    }
    let verdict;
    try {
      verdict = head.isReply(line, head.parts);
    } catch {
      verdict = 'push';
    }
    if (verdict === 'part') {
      head.parts.push(line);
    } else if (verdict === 'final') {
      this.inFlight.shift();
      const reply: Reply = { final: line, parts: head.parts };
      if (head.ghost) {
        clearTimeout(head.timer);
        this.emit('lateReply', { request: head.line, ...reply });
      } else {
        this.settle(head, undefined, reply);
      }
      this.pump();
    } else {
      this.emit('message', line);
    }
  }

  private timeOut(pending: Pending): void {
    if (pending.settled) return;
    this.settle(pending, new RequestTimeoutError(this.description, pending.line, pending.timeoutMs, pending.parts));
    this.becomeGhost(pending);
  }

  private abortPending(pending: Pending): void {
    if (pending.settled) return;
    const wasQueued = !pending.written;
    if (wasQueued) this.queue = this.queue.filter((p) => p !== pending);
    this.settle(pending, pending.signal!.reason);
    if (wasQueued) this.pump();
    else if (pending.expectsReply) this.becomeGhost(pending);
  }

  /** A written request that gave up still owes the device's reply: keep absorbing it for a while. */
  private becomeGhost(pending: Pending): void {
    if (!this.inFlight.includes(pending)) return;
    pending.ghost = true;
    const graceMs = this.lateReplyMs ?? pending.timeoutMs;
    if (Number.isFinite(graceMs)) {
      pending.timer = setTimeout(() => {
        this.forget(pending);
        this.pump();
      }, graceMs);
    }
  }

  private forget(pending: Pending): void {
    clearTimeout(pending.timer);
    this.inFlight = this.inFlight.filter((p) => p !== pending);
  }

  private failAll(errorFor: (pending: Pending) => Error): void {
    const all = [...this.inFlight, ...this.queue];
    this.inFlight = [];
    this.queue = [];
    for (const pending of all) {
      clearTimeout(pending.timer);
      this.settle(pending, errorFor(pending));
    }
  }

  private settle(pending: Pending, error: unknown, reply?: Reply): void {
    if (pending.settled) return;
    pending.settled = true;
    clearTimeout(pending.timer);
    if (pending.onAbort) pending.signal?.removeEventListener('abort', pending.onAbort);
    if (error !== undefined) pending.reject(error);
    else pending.resolve(pending.expectsReply ? reply : undefined);
  }
}

function checkTimeout(name: string, value: number): void {
  if (!(value > 0)) throw new RangeError(`${name} must be more than 0 ms (or Infinity), got ${value}`);
}

/** Resolves true after `ms`, or false as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => { clearTimeout(timer); resolve(false); };
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true); }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
