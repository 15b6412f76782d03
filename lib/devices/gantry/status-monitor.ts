import { WorkcellError } from '../../errors/workcell-error';
import type { LineConnection } from '../../io/line-connection';
import { sleep } from '../../scope/cancel-scope';
import { REALTIME, type OwedReply } from './grbl-link';
import { parseStatusReport, type Axes3, type GrblStatus } from './status-report';

/** What a status report says, as telemetry. */
export interface Readings {
  state: string;
  machine: Axes3 | null;
  work: Axes3 | null;
  feed: number | null;
  spindle: number | null;
}

/**
 * How long GRBL must show nothing left to do while a reply is still owed before the reply is
 * taken as lost (at least five status polls), ms.
 */
export const LOST_REPLY_MS = 2000;

/** A reply the watch of `watchReplies` found lost: the line owed it, and the bound GRBL showed nothing left to do for. */
export interface LostReply {
  owed: OwedReply;
  boundMs: number;
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
  private readonly reportListeners = new Set<(s: GrblStatus) => void>();
  /** The most planner blocks and receive-buffer bytes free a report of this session has shown (`Bf:`): both empty. */
  private bufferEmpty = { blocks: 0, bytes: 0 };

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
    if (status.buffer) {
      this.bufferEmpty.blocks = Math.max(this.bufferEmpty.blocks, status.buffer.blocks);
      this.bufferEmpty.bytes = Math.max(this.bufferEmpty.bytes, status.buffer.bytes);
    }
    for (const waiter of [...this.waiters]) waiter.resolve(status);
    for (const listener of [...this.reportListeners]) listener(status);
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

  /**
   * Watches for a reply lost on the wire while `owed()` names the oldest line still owed one:
   * calls `onLost` once, when for `LOST_REPLY_MS` (at least five polls) plus the dwell the owed
   * lines may take, every status report has shown GRBL with nothing left to do — `Idle`, and,
   * when reports carry `Bf:`, its planner and receive buffer empty (as free as they have been
   * this session) — while the same line stayed owed. A machine still moving (Run, Jog, Hold,
   * Door, Home…), a buffer still draining, a reply that arrives, or no line owed starts the count
   * again. Returns the function that stops watching.
   */
  watchReplies(owed: () => { oldest: OwedReply; dwellMs: number } | undefined, onLost: (lost: LostReply) => void): () => void {
    let quiet: { line: OwedReply; since: number } | undefined;
    const listener = (status: GrblStatus) => {
      const now = owed();
      if (!now || !this.nothingLeft(status)) {
        quiet = undefined;
        return;
      }
      const at = performance.now();
      if (quiet?.line !== now.oldest) quiet = { line: now.oldest, since: at };
      const boundMs = Math.max(LOST_REPLY_MS, 5 * this.pollIntervalMs) + now.dwellMs;
      if (at - quiet.since < boundMs) return;
      this.reportListeners.delete(listener);
      onLost({ owed: now.oldest, boundMs });
    };
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  /** GRBL idle with nothing in its planner or receive buffer (as far as the report shows). */
  private nothingLeft(status: GrblStatus): boolean {
    if (status.state !== 'Idle') return false;
    const b = status.buffer;
    return !b || (b.blocks >= this.bufferEmpty.blocks && b.bytes >= this.bufferEmpty.bytes);
  }

  /** Polls now and every `pollIntervalMs` until `stop()` (a poll while the link is down writes nothing). */
  start(): void {
    this.stop();
    this.bufferEmpty = { blocks: 0, bytes: 0 };
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
