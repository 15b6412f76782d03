import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { OpenFailedError } from './errors';
import type { Transport, TransportClosed, TransportEvents } from './transport';

export interface TcpSettings {
  /** Give up an open after this long (a host that drops SYNs would otherwise take minutes). Default 5000 ms. */
  connectTimeoutMs?: number;
  /** TCP keepalive probe delay, so a dead serial server is noticed without traffic. Default 5000 ms; 0 turns it off. */
  keepAliveMs?: number;
}

function explainSocketError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ECONNREFUSED': return 'connection refused (nothing listening on that port)';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'unknown host';
    case 'EHOSTUNREACH': case 'ENETUNREACH': return 'host unreachable';
    case 'ECONNRESET': return 'connection reset by the peer';
    default: return error.message;
  }
}

/**
 * A raw TCP socket as a `Transport`: a serial device server (ser2net, Moxa NPort in TCP server
 * mode), or an instrument's socket port (SCPI on 5025). Nagle is off so a one-byte real-time
 * command leaves at once; keepalive is on so a silently dead peer ends the session.
 */
export class TcpTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly description: string;
  readonly host: string;
  readonly port: number;
  private readonly connectTimeoutMs: number;
  private readonly keepAliveMs: number;
  private socket: net.Socket | undefined;
  private closeRequested = false;
  private closing: Promise<void> | undefined;

  constructor(host: string, port: number, settings: TcpSettings = {}, description?: string) {
    super();
    this.host = host;
    this.port = port;
    this.description = description ?? `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.connectTimeoutMs = settings.connectTimeoutMs ?? 5000;
    this.keepAliveMs = settings.keepAliveMs ?? 5000;
  }

  get isOpen(): boolean {
    return this.socket !== undefined && !this.closeRequested;
  }

  /**
   * Connects. Rejects with `OpenFailedError` (refused, unknown host, unreachable, or no answer
   * within `connectTimeoutMs`); on abort destroys the half-open socket and rejects with
   * `signal.reason` in the same turn.
   */
  open(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.socket) return Promise.reject(new OpenFailedError(this.description, 'it is already open'));
    return new Promise<void>((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      const fail = (error: unknown) => {
        cleanup();
        socket.destroy();
        reject(error);
      };
      const onError = (error: NodeJS.ErrnoException) => fail(new OpenFailedError(this.description, explainSocketError(error), error));
      const onTimeout = () => fail(new OpenFailedError(this.description, `no answer within ${this.connectTimeoutMs} ms`));
      const onAbort = () => fail(signal!.reason);
      const timer = setTimeout(onTimeout, this.connectTimeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.off('connect', onConnect);
        signal?.removeEventListener('abort', onAbort);
      };
      const onConnect = () => {
        cleanup();
        socket.setNoDelay(true);
        if (this.keepAliveMs > 0) socket.setKeepAlive(true, this.keepAliveMs);
        this.attach(socket);
        resolve();
      };
      socket.once('error', onError);
      socket.once('connect', onConnect);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.closeRequested = false;
    let lastError: NodeJS.ErrnoException | undefined;
    let peerEnded = false;
    socket.on('data', (chunk: Buffer) => this.emit('data', chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => { lastError = error; });
    // A half-closed socket is useless to a line protocol: finish our side too.
    socket.on('end', () => { peerEnded = true; socket.end(); });
    socket.once('close', () => {
      socket.removeAllListeners('data');
      this.socket = undefined;
      const closed: TransportClosed = this.closeRequested
        ? { requested: true, reason: 'closed on request' }
        : lastError
          ? { requested: false, reason: explainSocketError(lastError), error: lastError }
          : { requested: false, reason: peerEnded ? 'the peer closed the connection' : 'the connection ended' };
      this.closeRequested = false;
      this.emit('close', closed);
    });
  }

  /** Writes bytes; resolves once the socket has accepted them. */
  write(bytes: Uint8Array): Promise<void> {
    const socket = this.socket;
    if (!socket || this.closeRequested || socket.destroyed) {
      return Promise.reject(new Error(`${this.description}: the socket is not open`));
    }
    return new Promise((resolve, reject) => {
      socket.write(bytes, (error) => {
        if (error) reject(new Error(`${this.description}: write failed: ${error.message}`));
        else resolve();
      });
    });
  }

  /** Destroys the socket; resolves after its `close` event. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    this.closeRequested = true;
    this.closing = new Promise<void>((resolve) => {
      this.once('close', () => resolve());
      socket.destroy();
    }).finally(() => { this.closing = undefined; });
    return this.closing;
  }
}
