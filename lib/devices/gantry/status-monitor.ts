import { WorkcellError } from '../../errors/workcell-error';
import type { LineConnection } from '../../io/line-connection';
import { sleep } from '../../scope/cancel-scope';
import { REALTIME } from './grbl-link';
import { parseStatusReport, type Axes3, type GrblStatus } from './status-report';

/** What a status report says, as telemetry. */
export interface Readings {
  state: string;
  machine: Axes3 | null;
  work: Axes3 | null;
  feed: number | null;
  spindle: number | null;
}

interface Waiter {
  resolve: (s: GrblStatus) => void;
  reject: (err: Error) => void;
}

/**
 * What GRBL's status reports say, kept for one link: the last report, the work offset (GRBL
 * prints `WCO:` only every few reports), a poll of `?` every `pollIntervalMs` while started
 * (a real-time byte, never queued behind lines), and waits for the next report or for a
 * report that satisfies a condition.
 */
export class StatusMonitor {
  private lastValue: GrblStatus | undefined;
  private wcoValue: Axes3 | undefined;
  private readonly waiters = new Set<Waiter>();
  private pollTimer: NodeJS.Timeout | undefined;
  private lastReadings = '';
  /** Why GRBL answers no status request now, or undefined. */
  private silent: string | undefined;

  constructor(
    private readonly link: LineConnection,
    private readonly device: string,
    readonly pollIntervalMs: number,
  ) {}

  /** The last status report accepted (undefined before the first). */
  get last(): GrblStatus | undefined {
    return this.lastValue;
  }

  /** The work coordinate offset from the last report that carried one (undefined after `forgetWco`). */
  get wco(): Axes3 | undefined {
    return this.wcoValue;
  }

  /** A status report line parsed with the known work offset; undefined when it is damaged. */
  parse(line: string): GrblStatus | undefined {
    return parseStatusReport(line, this.wcoValue);
  }

  /** Takes `status` as the latest report (and its `WCO:`, if any) and hands it to every wait for the next report. */
  accept(status: GrblStatus): void {
    this.lastValue = status;
    if (status.wco) this.wcoValue = status.wco;
    for (const waiter of [...this.waiters]) waiter.resolve(status);
  }

  /**
   * The readings of `status` published as telemetry (`{state, machine, work, feed, spindle}`,
   * null where the report has none), or undefined when they equal those of the last call.
   */
  changedReadings(status: GrblStatus): Readings | undefined {
    const readings: Readings = {
      state: status.stateText,
      machine: status.machine ?? null,
      work: status.work ?? null,
      feed: status.feed ?? null,
      spindle: status.spindle ?? null,
    };
    const key = JSON.stringify(readings);
    if (key === this.lastReadings) return undefined;
    this.lastReadings = key;
    return readings;
  }

  /** GRBL was reset: the work offset must be read again from a report that carries it. */
  forgetWco(): void {
    this.wcoValue = undefined;
  }

  /** Polls now and every `pollIntervalMs` until `stop()` (a poll while the link is down writes nothing). */
  start(): void {
    this.stop();
    this.pollTimer = setInterval(() => this.poll(), this.pollIntervalMs);
    this.poll();
  }

  /** Stops polling. */
  stop(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Writes one status request `?` now, if the link is up. */
  poll(): void {
    if (this.link.isConnected) this.link.writeNow(Buffer.from([REALTIME.status])).catch(() => undefined);
  }

  /**
   * GRBL will answer no status request until further notice, and `why` says so (a sentence
   * naming the device), or `undefined` when it answers again. While it is silent, every wait
   * for a report rejects with `why` (code `grbl-locked`), those in progress too.
   */
  silence(why: string | undefined): void {
    this.silent = why;
    if (why === undefined) return;
    for (const waiter of [...this.waiters]) waiter.reject(this.silenced());
  }

  private silenced(): WorkcellError {
    return new WorkcellError('grbl-locked', this.silent ?? '', { subject: this.device, operation: 'status' });
  }

  /**
   * Asks `?` now and resolves with the next status report (asking again every 250 ms); rejects
   * after `timeoutMs` ("Mill: GRBL sent no status report within 5000 ms"), at once while GRBL
   * is known to answer none (see `silence`), or with `signal`'s reason when it fires.
   */
  nextStatus(signal?: AbortSignal, timeoutMs = 5000): Promise<GrblStatus> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.silent !== undefined) return Promise.reject(this.silenced());
    return new Promise<GrblStatus>((resolveIt, reject) => {
      const ask = () => this.link.writeNow(Buffer.from([REALTIME.status])).catch(() => undefined);
      const waiter: Waiter = {
        resolve: (s) => {
          done();
          resolveIt(s);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const repeat = setInterval(ask, 250);
      const timer = setTimeout(() => {
        done();
        reject(new WorkcellError('no-status', `${this.device}: GRBL sent no status report within ${timeoutMs} ms`, { subject: this.device, operation: 'status' }));
      }, timeoutMs);
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      const done = () => {
        clearInterval(repeat);
        clearTimeout(timer);
        this.waiters.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      ask();
    });
  }

  /**
   * Polls fast until a status report satisfies `done`; rejects after `boundMs` ("Mill: GRBL did
   * not reach the expected state within 100 ms (it is Run)"), as `nextStatus` does when no report
   * comes for 5 s, or with `signal`'s reason when it fires.
   */
  async waitFor(done: (s: GrblStatus) => boolean, boundMs: number, signal?: AbortSignal): Promise<GrblStatus> {
    const deadline = performance.now() + boundMs;
    const timedOut = () => new WorkcellError('wait-timeout', `${this.device}: GRBL did not reach the expected state within ${boundMs} ms (it is ${this.lastValue?.stateText ?? 'unknown'})`);
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw timedOut();
      let s: GrblStatus;
      try {
        s = await this.nextStatus(signal, Math.min(5000, left));
      } catch (err) {
        // The last request's wait was cut short by the bound: the bound is the story.
        if (left < 5000 && err instanceof WorkcellError && err.code === 'no-status') throw timedOut();
        throw err;
      }
      if (done(s)) return s;
      await sleep(Math.min(25, Math.max(0, deadline - performance.now())), signal);
    }
  }
}
