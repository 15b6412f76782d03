import type { DeviceStatus } from '../../device/device';
import { connectionHealth } from '../connection-health';
import type { ConnectionStatus, StatusDetail } from '../../io/line-connection';
import type { ReplyMatcher } from '../../io/reply-matchers';
import { sleep } from '../../scope/cancel-scope';
import { describeError } from '../../scope/reasons';
import { formatScpiError } from './scpi-error';
import type { ScpiLink } from './scpi-link';

/** IEEE 488.2 §10.14: `*IDN?` answers four comma-separated fields. Other lines are stale or damaged. */
const idnReply: ReplyMatcher = (line) => (line.split(',').length >= 4 && /^[\x20-\x7e]+$/.test(line.trim()) ? 'final' : 'push');

/** What the connection lifecycle needs from its device. */
export interface SessionHost {
  readonly name: string;
  readonly link: ScpiLink;
  /** Sent once after each successful `*IDN?`. */
  readonly initCommands: readonly string[];
  readonly errorCheck: boolean;
  readonly timeoutMs: number;
  setStatus(status: DeviceStatus, detail?: string): void;
  /** The device's `linkUp()`: an owed stop goes out first thing. */
  linkUp(): void;
  /** Every safe command in one write, past anything queued. */
  writeSafeCommands(): Promise<void>;
  /** The instrument is identified and ready: start the session's telemetry. */
  ready(session: AbortSignal): void;
  /** The session ended (or is replaced): its telemetry stops. */
  ended(): void;
  warn(text: string): void;
}

/**
 * The connection lifecycle of one SCPI instrument. On every (re)connect, first on the wire: the
 * stop the device owes (`linkUp`), then the safe commands of a safe routine waiting for the link
 * (`writeSafeOnLinkUp`); only then `*IDN?` (the reply becomes the `identity`), the init
 * commands and, with the error check on, a drain of the errors left from before (a warning);
 * then the device is `ready`. A failed identification is retried while the session lasts. While
 * the connection is not connected, the device's health follows it (`connectionHealth`) and the
 * session's work (identification, telemetry) stops.
 */
export class InstrumentSession {
  private identityValue: string | undefined;
  /** Aborted when the current session ends; identification and telemetry of that session stop. */
  private session: AbortController | undefined;
  /** The current session's identification; settles once the instrument is ready or the session ended. */
  private identifying: Promise<void> | undefined;
  /** Safe routines waiting for the link: handed the write of the safe commands when it is back. */
  private readonly safeWaiters = new Set<(written: Promise<void>) => void>();

  constructor(private readonly host: SessionHost) {
    const connection = host.link.connection;
    connection.on('status', (status, detail) => this.onConnectionStatus(status, detail));
    connection.on('connected', () => this.onConnected());
  }

  /** The instrument's `*IDN?` reply from the current session, or undefined before it answered. */
  get identity(): string | undefined {
    return this.identityValue;
  }

  /** The current session's identification, if one is under way or done (a safe routine waits for it). */
  get identification(): Promise<void> | undefined {
    return this.identifying;
  }

  /** Ends the current session's work (the device is closing). */
  end(): void {
    this.session?.abort();
  }

  /**
   * Resolves once the safe commands were written first thing on the next connection (after the
   * owed stop, before `*IDN?`); rejects with `signal.reason` when `signal` fires first, or with
   * the write's error.
   */
  writeSafeOnLinkUp(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter = (written: Promise<void>) => {
        signal.removeEventListener('abort', onAbort);
        written.then(resolve, reject);
      };
      const onAbort = () => {
        this.safeWaiters.delete(waiter);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.safeWaiters.add(waiter);
    });
  }

  private onConnectionStatus(status: ConnectionStatus, detail: StatusDetail): void {
    if (status === 'connected' || status === 'idle') return;
    if (status !== 'connecting') {
      this.session?.abort();
      this.session = undefined;
      this.host.ended();
    }
    const health = connectionHealth(status, detail, this.host.link.connection.description);
    if (health) this.host.setStatus(health.status, health.detail);
  }

  private onConnected(): void {
    const host = this.host;
    this.session?.abort();
    const session = new AbortController();
    this.session = session;
    this.identityValue = undefined;
    // A fresh session owes no replies, and *IDN? only takes an identity-shaped line.
    host.link.freshSession();
    host.setStatus('connecting', `identifying ${host.link.connection.description} (*IDN?)`);
    // First on the wire: an owed stop, then the safe commands of a safe routine waiting for
    // the link; only then *IDN?.
    host.linkUp();
    if (this.safeWaiters.size > 0) {
      const written = host.writeSafeCommands();
      written.catch(() => undefined);
      for (const waiter of this.safeWaiters) waiter(written);
      this.safeWaiters.clear();
    }
    this.identifying = this.identify(session.signal);
  }

  /** Asks `*IDN?` (retrying while the session lasts), sends the init commands, drains stale errors. */
  private async identify(signal: AbortSignal): Promise<void> {
    const { host } = this;
    const connection = host.link.connection;
    while (!signal.aborted) {
      try {
        const reply = await connection.request('*IDN?', { signal, isReply: idnReply, timeoutMs: host.timeoutMs });
        for (const command of host.initCommands) await connection.send(command, { signal });
        if (host.errorCheck) {
          const stale = await host.link.drainErrors('connect', signal);
          if (stale.length) host.warn(`${host.name}: errors left in the instrument's queue from before we connected: ${stale.map(formatScpiError).join('; ')}`);
        }
        if (signal.aborted) return;
        this.identityValue = reply.final.trim();
        host.setStatus('ready');
        host.ready(signal);
        return;
      } catch (err) {
        if (signal.aborted) return;
        // A stale or damaged line, or a lost reply: resynchronise before asking again.
        connection.discardPendingReplies('identification failed');
        host.setStatus('connecting', `no valid *IDN? reply (${describeError(err)}); asking again`);
        await sleep(Math.min(2000, host.timeoutMs), signal).catch(() => undefined);
      }
    }
  }
}
