import { backoffDelay, resolveBackoff, type BackoffOptions } from './backoff';
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

/** The events of the reconnection loop, as the connection above it emits them. */
export interface ReconnectEvents {
  /** An open attempt starts. `attempt` is 0 for the first, n for the n-th retry. */
  connecting: [info: { attempt: number }];
  /** An open attempt failed. */
  connectFailed: [info: { error: Error; attempt: number }];
  /** A connected session ended without `close()`: unplugged, peer closed, reset. */
  disconnected: [info: { reason: string; error?: Error }];
  /** The next open attempt will start in `inMs` ms. */
  reconnecting: [info: { inMs: number; attempt: number }];
  /** Every status change, with the same details as the specific event. */
  status: [status: ConnectionStatus, detail: StatusDetail];
}

/** Emits one of the loop's events (the connection's own `emit`). */
export type EmitReconnectEvent = <K extends keyof ReconnectEvents>(event: K, ...args: ReconnectEvents[K]) => unknown;

/**
 * Reconnection: keeps one transport open. Each attempt opens the transport and hands it to the
 * session (framing and requests, the connection's business), which runs until the transport
 * closes; after a failed attempt or a lost session the next attempt waits the backoff delay for
 * its retry number (counted from the last good session), or, with reconnection off, the loop
 * stops as `disconnected`. `stop()` ends it for good at any point: a backoff wait or an open
 * attempt ends at once, and no attempt follows. It owns the connection's status.
 */
export class ReconnectLoop {
  private readonly backoff: Required<BackoffOptions> | false;
  private readonly random: () => number;
  private currentStatus: ConnectionStatus = 'idle';
  private currentDetail: StatusDetail = {};
  private loop: Promise<void> | undefined;
  /** Aborted by `stop()`: ends a backoff wait or an open attempt at once. */
  private readonly lifetime = new AbortController();

  /** Validates the backoff (a bad one throws a `RangeError` naming the option). */
  constructor(
    private readonly transport: Transport,
    private readonly emit: EmitReconnectEvent,
    /**
     * Runs one session on the open transport: wires it up, sets `connected` (`setStatus`), and
     * resolves with why the transport closed.
     */
    private readonly session: () => Promise<TransportClosed>,
    options: { reconnect?: BackoffOptions | false; random?: () => number } = {},
  ) {
    this.backoff = options.reconnect === false ? false : resolveBackoff(options.reconnect ?? {});
    this.random = options.random ?? Math.random;
  }

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  get statusDetail(): StatusDetail {
    return this.currentDetail;
  }

  /** True once `stop()` was called. */
  get stopped(): boolean {
    return this.lifetime.signal.aborted;
  }

  /** Starts the loop unless it runs already. */
  start(): void {
    if (this.loop) return;
    this.loop = this.keepConnected().finally(() => {
      this.loop = undefined;
    });
  }

  /**
   * Ends the loop for good: `reason` ends a backoff wait or an open attempt at once and no
   * attempt follows. A live session ends when the transport is closed (the caller's part);
   * `finished()` then resolves once no attempt or timer is left.
   */
  stop(reason: unknown): void {
    this.lifetime.abort(reason);
  }

  /** Resolves when the loop has returned (at once when it is not running). */
  async finished(): Promise<void> {
    if (this.loop) await this.loop;
  }

  /** Sets the status and emits `'status'`. */
  setStatus(status: ConnectionStatus, detail: StatusDetail): void {
    this.currentStatus = status;
    this.currentDetail = detail;
    this.emit('status', status, detail);
  }

  private async keepConnected(): Promise<void> {
    const lifetime = this.lifetime.signal;
    let attempt = 0;
    for (;;) {
      if (lifetime.aborted) return;
      this.setStatus('connecting', { attempt });
      this.emit('connecting', { attempt });
      let ended: Promise<TransportClosed>;
      try {
        await this.transport.open(lifetime);
        if (lifetime.aborted) {
          await this.transport.close();
          return;
        }
        ended = this.session();
      } catch (error) {
        if (lifetime.aborted) return;
        const failure = error instanceof Error ? error : new Error(String(error));
        this.emit('connectFailed', { error: failure, attempt });
        if (!(await this.waitToRetry(++attempt, failure.message))) return;
        continue;
      }
      const closed = await ended;
      if (lifetime.aborted) return;
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
}

/** Resolves true after `ms`, or false as soon as `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
