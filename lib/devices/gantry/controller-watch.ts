import type { DeviceStatus } from '../../device/device';
import { WorkcellError } from '../../errors/workcell-error';
import { POSITION_LOST_ALARMS, describeGrblAlarm } from './codes';
import { GrblAlarmError } from './grbl-errors';
import type { GrblLink, PushedLine } from './grbl-link';
import type { ParserState } from './parser-state';
import type { StatusMonitor } from './status-monitor';
import type { GrblStatus } from './status-report';
import type { StopSequence } from './stop-sequence';

/** What the controller watch needs of its device: the parts of the Device contract it drives. */
export interface WatchHost {
  readonly name: string;
  readonly status: DeviceStatus;
  readonly positionTrusted: boolean | undefined;
  /** The device lets `$X` clear an alarm (see `GrblGantryOptions.allowUnlock`). */
  readonly allowUnlock: boolean;
  setPositionTrusted(trusted: boolean | undefined): void;
  /** Sets the device's status; a blank detail shows `ControllerWatch.detail()`. */
  setStatus(status: DeviceStatus, detail?: string): void;
  /** Fails the operation in progress, if there is one, with `error(operation)`. */
  failOperation(error: (operation: string) => Error): boolean;
  warn(text: string): void;
  telemetry(readings: Record<string, unknown>): void;
  /** The link came up: the owed stop, if any, goes first (Device.linkUp). */
  linkUp(): void;
  /** Reads GRBL's parser state (`$G`, `$#`). */
  readParserState(signal: AbortSignal): Promise<void>;
}

/**
 * The driver's view of the controller, session by session, from what GRBL pushes: whether it
 * has answered in this session (banner or status report) and was seen before, its firmware,
 * the alarm that locks it and whether the driver caused it, and GRBL's wait for a reset after
 * a hard or soft limit. It turns that into the device's position trust, health and telemetry,
 * and fails the operation in progress on an alarm or a reset the driver did not cause.
 */
export class ControllerWatch {
  private firmwareValue: string | undefined;
  /** GRBL answered in this session (banner or status report). */
  private alive = false;
  /** A controller was seen before (this or an earlier session): a later unexpected banner means it restarted. */
  private seenController = false;
  private alarmCodeValue: number | null = null;
  private alarmFaultValue: string | null = null;
  /** GRBL took none of the resets after a hard or soft limit (the sentence, without the device), until a banner. */
  private lockFault: string | null = null;

  constructor(
    private readonly host: WatchHost,
    private readonly link: GrblLink,
    private readonly monitor: StatusMonitor,
    private readonly stops: StopSequence,
    private readonly parser: ParserState,
  ) {
    link.on('session-start', () => this.onSessionStart());
    link.on('session-end', () => this.onSessionEnd());
    link.on('pushed', (line) => this.onPush(line));
  }

  /** The banner's firmware and version (`Grbl 1.1h`), once seen. */
  get firmware(): string | undefined {
    return this.firmwareValue;
  }

  /** The alarm that put GRBL in the alarm state (null: locked at power-up, or not in alarm). */
  get alarmCode(): number | null {
    return this.alarmCodeValue;
  }

  /** An alarm the driver did not cause (its description), until reset, home or unlock clears it; or that GRBL took none of the resets after a hard or soft limit, until its banner. */
  get alarmFault(): string | null {
    return this.lockFault ?? this.alarmFaultValue;
  }

  /** Homing or `$X` cleared the alarm. */
  alarmCleared(): void {
    this.alarmCodeValue = null;
    this.alarmFaultValue = null;
  }

  /** A cell reset: the alarm is no longer a fault (GRBL's lock may stay). */
  faultCleared(): void {
    this.alarmFaultValue = null;
  }

  /** Health from what is known: a fault while an alarm the driver did not cause stands, else ready (busy is the base's). */
  refreshHealth(force = false): void {
    if (!this.alive || !this.link.connection.isConnected) return;
    if (this.host.status === 'busy' && !force) return;
    const fault = this.alarmFault;
    if (fault) this.host.setStatus('fault', fault);
    else this.host.setStatus('ready');
  }

  /**
   * The status detail while ready or in fault: GRBL's state (`Idle`, `Run`, …), the firmware
   * before the first report, or in the alarm state the lock and what clears it: `alarm — home
   * with $H`, with the alarm that caused it when known (`alarm (ALARM:3) — home with $H`), and
   * `alarm — unlock ($X) or home ($H)` when the position is kept and the device allows unlocking.
   */
  detail(): string {
    const s = this.monitor.last;
    if (!s) return this.firmwareValue ?? '';
    if (s.state !== 'Alarm') return s.stateText;
    const code = this.alarmCodeValue !== null ? ` (ALARM:${this.alarmCodeValue})` : '';
    const unlock = this.host.positionTrusted !== false && this.host.allowUnlock;
    return `alarm${code} — ${unlock ? 'unlock ($X) or home ($H)' : 'home with $H'}`;
  }

  // ----- sessions -----

  private onSessionStart(): void {
    this.alive = false;
    this.stops.sessionStarted();
    this.host.setStatus('connecting', `waiting for GRBL on ${this.link.connection.description}`);
    // An owed stop is the first thing on the wire, before the first status poll; its banner
    // is awaited like any reset's (becomeReady waits for it).
    this.host.linkUp();
    // A controller already running prints no banner: the first status report shows it is there.
    this.monitor.start();
  }

  /** The session is over: its waits have ended; a reset awaited fails. */
  private onSessionEnd(): void {
    this.alive = false;
    this.monitor.stop();
    // A reset we were waiting for will print no banner on a dead link; the reconnect decides trust.
    if (this.stops.resetExpected) this.stops.linkEnded(this.link.linkDropped('before GRBL acknowledged the soft reset'));
  }

  // ----- what GRBL says -----

  private onPush(line: PushedLine): void {
    switch (line.kind) {
      case 'status': {
        const status = this.monitor.parse(line.text);
        if (status) this.onStatus(status);
        else this.host.warn(`${this.host.name}: ignored a damaged status report ${JSON.stringify(line.text)}`);
        return;
      }
      case 'banner':
        return this.onBanner(line);
      case 'alarm':
        return this.onAlarm(line.code);
      case 'reset-to-continue': {
        const reset = this.stops.resetPrompted();
        if (reset) this.lockedUntilReset(reset);
        return;
      }
      case 'unknown': {
        const t = line.text;
        this.host.warn(`${this.host.name}: ignored a line GRBL does not send ${JSON.stringify(t.length > 60 ? `${t.slice(0, 57)}...` : t)}`);
        return;
      }
      default:
        return; // feedback messages, setting echoes, an ok nobody was owed (absorbed after a reset)
    }
  }

  private onStatus(status: GrblStatus): void {
    this.monitor.accept(status);
    const host = this.host;
    if (!this.alive) {
      this.alive = true;
      this.seenController = true;
      // At connect: GRBL boots locked when homing is enabled (or it is in alarm already).
      if (status.state === 'Alarm') host.setPositionTrusted(false);
      else if (host.positionTrusted === undefined) host.setPositionTrusted(true);
      void this.becomeReady(status);
    } else if (host.status !== 'connecting') {
      if (status.state !== 'Alarm' && this.alarmCodeValue !== null && !this.alarmFaultValue) this.alarmCodeValue = null;
      this.refreshHealth();
    }
    const readings = this.monitor.changedReadings(status);
    if (readings) host.telemetry({ ...readings, positionTrusted: host.positionTrusted !== false });
  }

  /** First report of a session: read modes and offsets (when GRBL takes `$` commands), then ready. */
  private async becomeReady(status: GrblStatus): Promise<void> {
    const session = this.link.session;
    const signal = session?.signal ?? new AbortController().signal;
    if (this.stops.settling) {
      // A stop sequence (an owed stop written at connect) goes first: ready once it has settled.
      await this.stops.settle(signal).catch(() => undefined);
      status = await this.monitor.nextStatus(signal).catch(() => status);
    }
    if (status.state === 'Idle' || status.state === 'Alarm') {
      await this.host.readParserState(signal).catch(() => undefined);
    }
    if (session !== this.link.session || !this.link.connection.isConnected) return;
    this.refreshHealth(true);
  }

  private onBanner(banner: { firmware: string; version: string }): void {
    const host = this.host;
    this.firmwareValue = `${banner.firmware} ${banner.version}`;
    const expected = this.stops.resetExpected;
    this.lockFault = null;
    this.monitor.forgetWco();
    this.parser.forget();
    if (!expected) {
      // GRBL restarted on its own (power, USB reset, watchdog): whatever it was doing is gone.
      if (this.seenController) host.setPositionTrusted(false);
      host.failOperation((op) => new WorkcellError('grbl-reset', `${host.name}: ${op} failed: GRBL reset unexpectedly (${this.firmwareValue} banner); the position is no longer trusted`, {
        subject: host.name,
        operation: op,
      }));
    }
    this.seenController = true;
    this.link.connection.discardPendingReplies(`GRBL was reset (${this.firmwareValue} banner)`);
    this.stops.bannerArrived();
    const signal = this.link.session?.signal;
    if (!this.alive) {
      // Ready after the first status report, which tells whether GRBL is locked.
      this.monitor.nextStatus(signal).catch(() => undefined);
    } else {
      host.readParserState(signal ?? new AbortController().signal).catch(() => undefined);
    }
  }

  /**
   * An alarm: the position is lost after some (POSITION_LOST_ALARMS). One the driver did not
   * cause (every hard or soft limit, and any alarm outside its own stop) is a fault and fails
   * the operation in progress. After a hard or soft limit GRBL waits for a soft reset: the stop
   * sequence gives it one (`StopSequence.criticalAlarm`).
   */
  private onAlarm(code: number): void {
    const host = this.host;
    this.alarmCodeValue = code;
    if (POSITION_LOST_ALARMS.has(code)) host.setPositionTrusted(false);
    const locking = code === 1 || code === 2;
    const ours = !locking && (this.stops.resetExpected || this.stops.settling !== undefined);
    if (locking) this.lockedUntilReset(this.stops.criticalAlarm(code));
    if (ours) return;
    const text = describeGrblAlarm(code);
    this.alarmFaultValue = text;
    if (!host.failOperation((op) => new GrblAlarmError(host.name, op, code))) host.warn(`${host.name}: GRBL raised ${text}`);
    host.setStatus('fault', text);
  }

  /** GRBL took none of the resets after a hard or soft limit: a fault that says so, and a warning. */
  private lockedUntilReset(reset: Promise<void>): void {
    reset.catch((err: unknown) => {
      if (!(err instanceof WorkcellError) || err.code !== 'grbl-locked') return; // the link dropped: the reconnect decides
      this.host.warn(err.message);
      this.lockFault = err.message.slice(this.host.name.length + 2);
      this.host.setStatus('fault', this.lockFault);
    });
  }
}
