import { WorkcellError } from '../../errors/workcell-error';
import type { LineConnection } from '../../io/line-connection';
import { abortable } from '../../scope/cancel-scope';
import { REALTIME } from './grbl-link';
import type { StatusMonitor } from './status-monitor';

/** How long GRBL may take from a soft reset to its banner (ALARM:N is followed by a 500 ms pause). */
export const RESET_BANNER_MS = 3000;
/** GRBL's pause after printing an alarm (ALARM:3 after a reset in motion) before it goes on. */
export const ALARM_PAUSE_MS = 500;
/**
 * After ALARM:1 or ALARM:2, how long the driver waits for `[MSG:Reset to continue]` before it
 * resets anyway: GRBL's pause, and as long again for the line to cross a slow link.
 */
export const RESET_PROMPT_MS = 2 * ALARM_PAUSE_MS;
/** How long GRBL, waiting for a reset after a hard or soft limit, may take to print its banner once it has taken one (nothing moves: no alarm, no pause). */
export const LOCKED_RESET_BANNER_MS = 1000;
/** How many soft resets the driver gives GRBL waiting after a hard or soft limit before it says GRBL stays locked. */
export const LOCKED_RESET_ATTEMPTS = 2;

/** `ALARM:2 (soft limit)`: a hard or soft limit alarm as the sentences name it (one whose line was lost: "a hard or soft limit alarm"). */
export function lockingAlarm(code: number): string {
  return code === 1 ? 'ALARM:1 (hard limit)' : code === 2 ? 'ALARM:2 (soft limit)' : 'a hard or soft limit alarm';
}

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

/** GRBL waiting for a reset after a hard or soft limit. */
interface Lock {
  code: number;
  /** GRBL printed `[MSG:Reset to continue]`: a reset now is taken. */
  prompted: boolean;
  /** Called on the next prompt. */
  onPrompt: Set<() => void>;
}

interface PendingReset {
  /** Soft resets written for this banner (GRBL prints one banner per reset it takes). */
  writes: number;
  resolve: () => void;
  reject: (err: Error) => void;
  promise: Promise<void>;
}

/**
 * GRBL's stop sequences and the soft reset they end with: feed hold (and jog cancel), a wait for
 * the machine to come to rest, soft reset 0x18, and GRBL's banner, which acknowledges the reset.
 * One sequence is under way at a time (`settling`); the next operation waits for it. A cell
 * hold's feed hold and cycle start (`pause`, `resume`) never write once a stop has begun.
 *
 * After a hard or soft limit (ALARM:1, ALARM:2) GRBL 1.1 pauses 500 ms, throwing away any reset
 * that arrives meanwhile, prints `[MSG:Reset to continue]`, and then takes nothing but a soft
 * reset: it answers no status request until it has one. See `criticalAlarm`.
 */
export class StopSequence {
  private settlingValue: Promise<void> | undefined;
  private resetPending: PendingReset | undefined;
  private lock: Lock | undefined;
  /**
   * Until then a second banner is the driver's too: two resets went out for one banner, and
   * GRBL may have taken both (the first just after its pause, the second on its prompt).
   */
  private secondBannerUntil = 0;

  constructor(private readonly host: StopHost) {}

  /** The stop sequence under way (hold, wait, reset, banner), or undefined. */
  get settling(): Promise<void> | undefined {
    return this.settlingValue;
  }

  /**
   * True from a soft reset written until its banner (or until the link drops); and for
   * `LOCKED_RESET_BANNER_MS` after a banner that answered two resets, for a second banner.
   */
  get resetExpected(): boolean {
    return this.resetPending !== undefined || performance.now() < this.secondBannerUntil;
  }

  /** The hard or soft limit alarm (1 or 2) after which GRBL waits for a soft reset, until its banner; null when it does not. */
  get lockedAfter(): number | null {
    return this.lock?.code ?? null;
  }

  /**
   * GRBL raised ALARM:1 or ALARM:2: it waits for a soft reset. The reset goes out when GRBL
   * asks for it (`[MSG:Reset to continue]`, see `resetPrompted`), or `RESET_PROMPT_MS` after
   * the alarm when that line does not come; a reset written before the prompt (an emergency
   * stop's, during GRBL's pause) was thrown away, so the prompt's arrival after it gets a new
   * one. Until the banner the status monitor says why GRBL answers no `?`. Runs as the stop
   * sequence under way (joining one already under way); resolves at the banner, rejects as
   * `resetLocked` does.
   */
  criticalAlarm(code: number): Promise<void> {
    if (!this.lock) this.lock = { code, prompted: false, onPrompt: new Set() };
    this.host.monitor.silence(`${this.host.name}: GRBL is waiting for a reset after ${lockingAlarm(code)} and answers no status request until it has taken one`);
    const session = this.host.session();
    const run = (async () => {
      await this.prompt(RESET_PROMPT_MS, session?.signal);
      await this.resetLocked();
    })();
    const before = this.settlingValue;
    this.settlingValue = this.joinSettling(before ? Promise.all([before.catch(() => undefined), run]).then(() => undefined) : run);
    return run;
  }

  /**
   * GRBL printed `[MSG:Reset to continue]`: it waits for a reset, and takes the next one. When
   * its alarm line was lost, this begins the reset as `criticalAlarm` does, and returns it.
   */
  resetPrompted(): Promise<void> | undefined {
    const lock = this.lock;
    if (!lock) {
      this.lock = { code: 0, prompted: true, onPrompt: new Set() };
      return this.criticalAlarm(0);
    }
    lock.prompted = true;
    for (const wake of [...lock.onPrompt]) wake();
    return undefined;
  }

  /**
   * Soft resets for GRBL waiting after a hard or soft limit: one now, another at once if GRBL
   * asks again (the first came during its pause) or if no banner follows within
   * `LOCKED_RESET_BANNER_MS`, at most `LOCKED_RESET_ATTEMPTS` in all. Resolves at the banner.
   * Rejects when none is taken: "Mill: GRBL is waiting for a reset after ALARM:2 (soft limit)
   * and took none of the driver's 2 soft resets (0x18); it answers nothing until it takes one:
   * check the link, or power-cycle the controller" (`operation` named when given: "Mill: status
   * failed: …"), and when the link drops ("Mill: stop failed: the link dropped before GRBL took
   * the reset it waits for (…)"), writing nothing more. Resolves at once when GRBL is not waiting.
   */
  async resetLocked(operation?: string): Promise<void> {
    const lock = this.lock;
    if (!lock) return;
    const session = this.host.session();
    for (let attempt = 1; attempt <= LOCKED_RESET_ATTEMPTS; attempt++) {
      // No reset goes out on a link that has dropped: the next session decides (a reset awaited
      // then would take a restarted board's banner for its own).
      if (!session || session.signal.aborted) throw this.host.linkDropped('before GRBL took the reset it waits for');
      let prompted!: () => void;
      const askedAgain = new Promise<'asked again'>((resolve) => (prompted = () => resolve('asked again')));
      lock.onPrompt.add(prompted);
      try {
        const outcome = await Promise.race([this.resetNow(LOCKED_RESET_BANNER_MS).then(() => 'banner' as const, (err: Error) => err), askedAgain]);
        if (outcome === 'banner') return;
      } finally {
        lock.onPrompt.delete(prompted);
      }
      if (this.lock !== lock) return; // a banner came meanwhile
    }
    const what = operation ? `${operation} failed: ` : '';
    throw new WorkcellError('grbl-locked', `${this.host.name}: ${what}GRBL is waiting for a reset after ${lockingAlarm(lock.code)} and took none of the driver's ${LOCKED_RESET_ATTEMPTS} soft resets (0x18); it answers nothing until it takes one: check the link, or power-cycle the controller`, {
      subject: this.host.name,
      operation: operation ?? 'reset',
      value: lock.code,
    });
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

  /** Soft reset now; resolves at its banner (rejects when none comes within `bannerMs`). */
  resetNow(bannerMs = RESET_BANNER_MS): Promise<void> {
    const banner = this.expectReset(bannerMs);
    this.host.link.writeNow(Buffer.from([REALTIME.reset])).catch(() => undefined);
    return banner;
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

  /** GRBL printed its banner: the reset awaited, if any, is acknowledged, and GRBL waits for none. Returns whether the driver expected it (see `resetExpected`). */
  bannerArrived(): boolean {
    const expected = this.resetPending;
    this.resetPending = undefined;
    this.unlocked();
    if (!expected && performance.now() < this.secondBannerUntil) {
      this.secondBannerUntil = 0;
      return true;
    }
    this.secondBannerUntil = expected && expected.writes > 1 ? performance.now() + LOCKED_RESET_BANNER_MS : 0;
    expected?.resolve();
    return expected !== undefined;
  }

  /** A new session: whether GRBL still waits for a reset is not known until it says so again. */
  sessionStarted(): void {
    this.unlocked();
  }

  /** The link dropped: a reset awaited will print no banner, and fails with `error`. */
  linkEnded(error: Error): void {
    const pending = this.resetPending;
    this.resetPending = undefined;
    pending?.reject(error);
  }

  private unlocked(): void {
    if (!this.lock) return;
    this.lock = undefined;
    this.host.monitor.silence(undefined);
  }

  /** Resolves when GRBL has asked for its reset, after `boundMs`, or when `signal` fires. */
  private prompt(boundMs: number, signal: AbortSignal | undefined): Promise<void> {
    const lock = this.lock;
    if (!lock || lock.prompted || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        lock.onPrompt.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, boundMs);
      lock.onPrompt.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Registers the reset about to be written; resolves at its banner (rejects after `bannerMs`). */
  private expectReset(bannerMs = RESET_BANNER_MS): Promise<void> {
    if (!this.resetPending) {
      let resolveIt!: () => void;
      let rejectIt!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => {
        resolveIt = res;
        rejectIt = rej;
      });
      promise.catch(() => undefined);
      this.resetPending = { writes: 0, resolve: resolveIt, reject: rejectIt, promise };
    }
    const pending = this.resetPending;
    pending.writes++;
    const name = this.host.name;
    return new Promise<void>((res, rej) => {
      const timer = setTimeout(() => {
        if (this.resetPending === pending) this.resetPending = undefined;
        const locked = this.lock ? ` (it is waiting for a reset after ${lockingAlarm(this.lock.code)})` : '';
        rej(new WorkcellError('stop-failed', `${name}: GRBL did not print its banner within ${bannerMs} ms of the soft reset${locked}`, { subject: name, operation: 'stop' }));
      }, bannerMs);
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
