import { WorkcellError } from '../../errors/workcell-error';
import type { LineConnection } from '../../io/line-connection';
import { abortable } from '../../scope/cancel-scope';
import { REALTIME } from './grbl-link';
import type { StatusMonitor } from './status-monitor';

/** How long GRBL may take from a soft reset to its banner (ALARM:N is followed by a 500 ms pause). */
export const RESET_BANNER_MS = 3000;
/** GRBL's pause after printing an alarm (ALARM:3 after a reset in motion) before it goes on. */
export const ALARM_PAUSE_MS = 500;

/** What a stop sequence needs of its device. */
export interface StopHost {
  /** The device's name, for the sentences. */
  readonly name: string;
  readonly link: LineConnection;
  readonly monitor: StatusMonitor;
  /** The current session (aborted when the link drops; undefined while it is down). */
  session(): AbortController | undefined;
  /** The error of a stop that cannot finish because the link dropped (`phase`: where it was). */
  linkDropped(phase: string): WorkcellError;
  /** How many stops the device has begun (its `stopCount`): a change means a stop began meanwhile. */
  stopsBegun(): number;
}

/** What a pause or resume saw when it began: the stops begun and the session. */
interface HoldMark {
  stops: number;
  session: AbortController | undefined;
}

interface PendingReset {
  resolve: () => void;
  reject: (err: Error) => void;
  promise: Promise<void>;
}

/**
 * GRBL's stop sequences and the soft reset they end with: feed hold (and jog cancel), a wait for
 * the machine to come to rest, soft reset 0x18, and GRBL's banner, which acknowledges the reset.
 * One sequence is under way at a time (`settling`); the next operation waits for it. A cell
 * hold's feed hold and cycle start (`pause`, `resume`) never write once a stop has begun.
 */
export class StopSequence {
  private settlingValue: Promise<void> | undefined;
  private resetPending: PendingReset | undefined;

  constructor(private readonly host: StopHost) {}

  /** The stop sequence under way (hold, wait, reset, banner), or undefined. */
  get settling(): Promise<void> | undefined {
    return this.settlingValue;
  }

  /** True from a soft reset written until its banner (or until the link drops). */
  get resetExpected(): boolean {
    return this.resetPending !== undefined;
  }

  /**
   * Feed hold (and jog cancel) now; then, at once when `holdMs` is 0, otherwise once GRBL
   * reports the machine at rest or after `holdMs`, a soft reset; resolves after the banner. A
   * call while one is under way writes the hold again and joins it. Rejects when the link
   * drops during the hold ("… the link dropped during the feed hold, before the soft reset")
   * or before the banner, and when no banner comes within `RESET_BANNER_MS`.
   */
  haltAndReset(holdMs: number, jog: boolean): Promise<void> {
    const { link, monitor } = this.host;
    const first = [REALTIME.feedHold, ...(jog ? [REALTIME.jogCancel] : [])];
    if (holdMs === 0) {
      const banner = this.expectReset();
      link.writeNow(Buffer.from([...first, REALTIME.reset])).catch(() => undefined);
      this.settlingValue = this.joinSettling(banner);
      return this.settlingValue;
    }
    link.writeNow(Buffer.from(first)).catch(() => undefined);
    if (this.settlingValue) return this.settlingValue;
    const session = this.host.session();
    const run = (async () => {
      await monitor.waitFor((s) => s.state === 'Idle' || s.state === 'Alarm' || (s.state === 'Hold' && s.subState === 0), holdMs, session?.signal).catch(() => undefined);
      // The link dropped during the hold: no reset can go out, no banner will come.
      if (!session || session.signal.aborted) throw this.host.linkDropped('during the feed hold, before the soft reset');
      await this.resetNow();
    })();
    this.settlingValue = this.joinSettling(run);
    return this.settlingValue;
  }

  /** Jog cancel; if the jog has not ended within `holdMs`, a soft reset. */
  cancelJog(holdMs: number): Promise<void> {
    this.host.link.writeNow(Buffer.from([REALTIME.jogCancel])).catch(() => undefined);
    if (this.settlingValue) return this.settlingValue;
    const run = (async () => {
      try {
        await this.host.monitor.waitFor((s) => s.state !== 'Jog', holdMs);
      } catch {
        await this.resetNow();
      }
    })();
    this.settlingValue = this.joinSettling(run);
    return this.settlingValue;
  }

  /** Soft reset now; resolves at its banner. */
  resetNow(): Promise<void> {
    const banner = this.expectReset();
    this.host.link.writeNow(Buffer.from([REALTIME.reset])).catch(() => undefined);
    return banner;
  }

  /** A soft reset from within an operation, bounded by `signal`. */
  async resetWithin(signal: AbortSignal): Promise<void> {
    await abortable(signal, this.resetNow());
  }

  /**
   * Hold (cell hold): feed hold `!`; resolves when GRBL reports the hold (or after 2 s). Nothing
   * is written once `signal` has fired (it rejects with its reason) or while a stop sequence is
   * under way (it rejects saying so); when `signal` fires during the wait it rejects at once
   * with its reason.
   */
  async pause(signal: AbortSignal): Promise<void> {
    const mark = this.holdMark();
    this.checkHoldWanted('pause', 'feed hold (!)', signal, mark);
    const { link, monitor } = this.host;
    if (!link.isConnected) return;
    await link.writeNow(Buffer.from([REALTIME.feedHold]));
    await monitor.waitFor((s) => s.state !== 'Run' && s.state !== 'Jog', 2000, signal).catch(() => undefined);
    if (signal.aborted) throw signal.reason;
  }

  /**
   * Resume: cycle start `~` once the hold is complete. GRBL ignores `~` while it still
   * decelerates (`Hold:1`), so this waits (up to 10 s) for `Hold:0` first. The `~` is never
   * written once `signal` has fired, a stop has begun on the device (a `~` after the stop's feed
   * hold would set the machine moving again before the reset), a stop sequence is under way, or
   * the link has dropped since the resume began (GRBL was reset: nothing to resume): then it
   * rejects, at once when `signal` fires, with its reason, otherwise with a sentence saying why.
   */
  async resume(signal: AbortSignal): Promise<void> {
    const mark = this.holdMark();
    this.checkHoldWanted('resume', 'cycle start (~)', signal, mark);
    const { link, monitor } = this.host;
    if (!link.isConnected) return;
    await monitor.waitFor((s) => !(s.state === 'Hold' && s.subState === 1), 10_000, signal).catch(() => undefined);
    // Checked again in the same turn as the write: a stop begun meanwhile wins.
    this.checkHoldWanted('resume', 'cycle start (~)', signal, mark);
    await link.writeNow(Buffer.from([REALTIME.cycleStart]));
  }

  private holdMark(): HoldMark {
    return { stops: this.host.stopsBegun(), session: this.host.session() };
  }

  /** Throws unless the pause or resume begun at `mark` may still write: see `resume`. */
  private checkHoldWanted(operation: string, frame: string, signal: AbortSignal, mark: HoldMark): void {
    if (signal.aborted) throw signal.reason;
    const why =
      this.host.stopsBegun() !== mark.stops ? 'a stop began on the device'
      : this.settlingValue ? 'a stop sequence is under way'
      : mark.session !== this.host.session() ? 'the link dropped (GRBL was reset)'
      : undefined;
    if (why) throw new WorkcellError(`${operation}-abandoned`, `${this.host.name}: ${operation} abandoned: ${why}; ${frame} not sent`, { subject: this.host.name, operation });
  }

  /** Waits for a stop sequence under way (its failure is not the caller's); rejects when `signal` fires. */
  async settle(signal: AbortSignal): Promise<void> {
    while (this.settlingValue) await abortable(signal, this.settlingValue.catch(() => undefined));
  }

  /** GRBL printed its banner: the reset awaited, if any, is acknowledged. Returns whether one was awaited. */
  bannerArrived(): boolean {
    const expected = this.resetPending;
    this.resetPending = undefined;
    expected?.resolve();
    return expected !== undefined;
  }

  /** The link dropped: a reset awaited will print no banner, and fails with `error`. */
  linkEnded(error: Error): void {
    const pending = this.resetPending;
    this.resetPending = undefined;
    pending?.reject(error);
  }

  /** Registers the reset about to be written; resolves at its banner (rejects after RESET_BANNER_MS). */
  private expectReset(): Promise<void> {
    if (!this.resetPending) {
      let resolveIt!: () => void;
      let rejectIt!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolveIt = res;
        rejectIt = rej;
      });
      promise.catch(() => undefined);
      this.resetPending = { resolve: resolveIt, reject: rejectIt, promise };
    }
    const pending = this.resetPending;
    const name = this.host.name;
    return new Promise<void>((res, rej) => {
      const timer = setTimeout(() => {
        if (this.resetPending === pending) this.resetPending = undefined;
        rej(new WorkcellError('stop-failed', `${name}: GRBL did not print its banner within ${RESET_BANNER_MS} ms of the soft reset`, { subject: name, operation: 'stop' }));
      }, RESET_BANNER_MS);
      pending.promise.then(
        () => {
          clearTimeout(timer);
          res();
        },
        (err: Error) => {
          clearTimeout(timer);
          rej(err);
        },
      );
    });
  }

  private joinSettling(p: Promise<void>): Promise<void> {
    const settled: Promise<void> = p.finally(() => {
      if (this.settlingValue === settled) this.settlingValue = undefined;
    });
    settled.catch(() => undefined);
    return settled;
  }
}
