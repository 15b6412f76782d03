import { readFileSync, realpathSync, statSync } from 'node:fs';
import { connectionHealth, notConnected } from '../connection-health';
import { isAbsolute, relative, resolve } from 'node:path';
import { setMaxListeners } from 'node:events';
import { Device, type DeviceStatus, type OperationContext, type Pausable } from '../../device/device';
import type { OperationSpec } from '../../device/operations';
import { WorkcellError } from '../../errors/workcell-error';
import { abortable, sleep } from '../../scope/cancel-scope';
import { Cancellation, describeError, isCancellation } from '../../scope/reasons';
import type { BackoffOptions } from '../../io/backoff';
import { createTransport } from '../../io/create-transport';
import { IoError } from '../../io/errors';
import { LineConnection, type ConnectionStatus, type Reply, type StatusDetail } from '../../io/line-connection';
import { untilFinal, type ReplyMatcher } from '../../io/reply-matchers';
import type { SerialSettings } from '../../io/serial-transport';
import { POSITION_LOST_ALARMS, describeGrblAlarm, describeGrblError } from './codes';
import {
  DEFAULT_MODAL, ProgramError, ZERO_OFFSETS, foldOffsetLine, parseGcodeModes, planMotions, splitProgram,
  type ModalState, type Offsets, type ProgramLine,
} from './gcode-program';
import { GANTRY_OPERATIONS } from './operations';
import { parseBanner, parseStatusReport, type Axes3, type GrblStatus } from './status-report';

/** Travel of one axis in machine coordinates, mm. */
export interface AxisLimit {
  min: number;
  max: number;
}

/** Soft limits per axis (machine coordinates); an axis left out is not limited. */
export type SoftLimits = Partial<Record<'x' | 'y' | 'z', AxisLimit>>;

/** Settings of one GRBL gantry; typed and defaulted here, once. */
export interface GrblGantryOptions {
  /** The device's name in the cell and in every message (`Mill`, `Laser`). */
  name: string;
  /** A serial device path or `tcp://host:port` (ser2net, an ESP32 bridge); ignored when `connection` is given. */
  address?: string;
  /** A connection to use instead of one made from `address`; the driver owns it (opens, closes). Use `gantryConnection()`. */
  connection?: LineConnection;
  /** Serial line settings; GRBL talks 115200 8N1. */
  serial?: SerialSettings;
  /** Checked before anything is sent. */
  softLimits?: SoftLimits;
  /** Status poll period (`?`), ms. Default 200 (GRBL recommends at most 5 Hz). */
  pollIntervalMs?: number;
  /** Let `unlock` and a cell reset clear an alarm with `$X` (the position stays untrusted). Default false. */
  allowUnlock?: boolean;
  /** What `safe()` switches off. Default: both. */
  safeState?: { spindleOff?: boolean; coolantOff?: boolean };
  /**
   * Emergency stop: how long to let the feed hold decelerate before the soft reset, ms. 0 (the
   * default) resets at once: motion stops now and the position is lost (ALARM:3). With a bound,
   * a machine that comes to rest in time keeps its position (GRBL raises no alarm then). It is
   * the most of the device's `stopBoundMs` (with GRBL's 500 ms alarm pause): a cell refuses a
   * hold whose bound is not well below its stop timeout.
   */
  estopHoldMs?: number;
  /** A cancelled step: the same, but by default a controlled stop that keeps the position. Default 2000. */
  cancelHoldMs?: number;
  /** Reply timeout for commands that do not wait for motion, ms. Default 10000. */
  replyTimeoutMs?: number;
  /** Folder `program` files are read from; without it, programs only come from the message. */
  programDir?: string;
  /** `character-counting` (default: fill GRBL's 128-byte buffer) or `send-response` (one line at a time). */
  streaming?: 'character-counting' | 'send-response';
  /** GRBL's receive buffer, bytes (RX_BUFFER_SIZE). Default 128; grblHAL builds often have 1024. */
  rxBufferBytes?: number;
  reconnect?: BackoffOptions | false;
  ownership?: 'wait' | 'fail-fast';
  critical?: boolean;
}

/** What a moving operation returns. */
export interface GantryPosition {
  state: string;
  machine: Axes3 | null;
  work: Axes3 | null;
}

/** What `safe()` found when it checked the machine afterwards (status report). */
export interface SafeCheck {
  state: string;
  spindleRpm: number;
  spindle: 'cw' | 'ccw' | 'off';
  flood: boolean;
  mist: boolean;
  /** What was sent: `M5`, `M9`, or nothing when GRBL was in alarm (its reset had already switched them off). */
  sent: string[];
}

/** An `error:N` answer, as a clear sentence. */
export class GrblCommandError extends WorkcellError {
  override readonly name = 'GrblCommandError';
  constructor(device: string, operation: string, readonly line: string, readonly grblCode: number, where = '') {
    super('grbl-error', `${device}: ${operation}${where} refused by GRBL: ${describeGrblError(grblCode)} (line ${JSON.stringify(line)})`, {
      subject: device,
      operation,
      value: line,
    });
  }
}

/** An `ALARM:N` that ended an operation. */
export class GrblAlarmError extends WorkcellError {
  override readonly name = 'GrblAlarmError';
  constructor(device: string, operation: string, readonly alarm: number) {
    super('grbl-alarm', `${device}: ${operation} failed: GRBL raised ${describeGrblAlarm(alarm)}`, { subject: device, operation, value: alarm });
  }
}

const isFinalReply = (line: string): boolean => {
  const t = line.trim();
  return t === 'ok' || /^error:\d+$/.test(t);
};
/** GRBL answers every line with exactly one `ok` or `error:N`; everything else is pushed. */
export const grblReply: ReplyMatcher = untilFinal(isFinalReply);
/** `$#` and `$G` answer `[...]` lines, then `ok`. */
const bracketReply: ReplyMatcher = untilFinal(isFinalReply, (l) => l.trim().startsWith('['));

const REALTIME = { status: 0x3f, cycleStart: 0x7e, feedHold: 0x21, reset: 0x18, jogCancel: 0x85 } as const;
/** How long GRBL may take from a soft reset to its banner (ALARM:N is followed by a 500 ms pause). */
const RESET_BANNER_MS = 3000;
/** GRBL's pause after printing an alarm (ALARM:3 after a reset in motion) before it goes on. */
const ALARM_PAUSE_MS = 500;
/** How many program lines are queued on the connection ahead of the replies (more than 128 bytes' worth). */
const PROGRAM_WINDOW = 64;

/**
 * A line connection set up for GRBL: `\n` line endings, one `ok`/`error:N` per line, character
 * counting against the receive buffer (or one line at a time), and late replies always
 * expected (GRBL answers every line it took, unless it is reset: then the driver discards them).
 */
export function gantryConnection(address: string, options: Pick<GrblGantryOptions, 'serial' | 'replyTimeoutMs' | 'streaming' | 'rxBufferBytes' | 'reconnect'> = {}): LineConnection {
  const sendResponse = options.streaming === 'send-response';
  return new LineConnection(createTransport(address, { serial: { baudRate: 115200, ...options.serial } }), {
    framing: { delimiter: '\n', maxLineBytes: 512 },
    lineEnding: '\n',
    isReply: grblReply,
    timeoutMs: options.replyTimeoutMs ?? 10_000,
    pipeline: sendResponse ? { maxInFlight: 1 } : { maxInFlight: 64, maxInFlightBytes: options.rxBufferBytes ?? 128 },
    lateReplyMs: Infinity,
    reconnect: options.reconnect,
  });
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;
/** A coordinate as GRBL reads it: at most 4 decimals, no trailing zeros, no exponent. */
function num(n: number): string {
  const s = n.toFixed(4).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

interface Waiter {
  resolve: (s: GrblStatus) => void;
}

/**
 * A GRBL 1.1 / grblHAL motion controller (gantry, CNC router, laser) as a Workcell device.
 *
 * Connection: it owns one `LineConnection` (see `gantryConnection`). On every (re)connect a stop
 * the device owes (`oweStop`) is written first, before the first status poll, and the device is
 * ready only once that stop has settled. After connecting it waits for GRBL: the startup banner
 * (`Grbl 1.1h ['$' for help]`, `GrblHAL …`) or, from a controller already running, the answer to
 * a status request; then reads the parser state (`$G`) and offsets (`$#`) when GRBL is idle or
 * in alarm, and is `ready`. It polls `?` every
 * `pollIntervalMs` (a real-time byte, never queued) and tracks state, machine and work
 * position, feed and spindle, published as `'telemetry'` `{state, machine, work, feed, spindle}`
 * whenever they change.
 *
 * Position trust: untrusted when GRBL is in alarm at connect (it boots locked when homing is
 * enabled), after an alarm that loses position (hard limit, reset during motion, failed homing)
 * and after a reset banner the driver did not cause (a power cycle, a USB reconnect that
 * resets the board). Moving operations are then refused until `home` succeeds.
 *
 * Operations: `GANTRY_OPERATIONS`. Soft limits are checked before a byte is sent (absolute
 * targets through the work offset, relative ones from the tracked position, every motion line
 * of a program through GRBL's modal state), and again when the operation gets its turn with the
 * position read fresh. `error:N` and `ALARM:N` become errors with GRBL's meaning.
 *
 * Stopping: see `sendStop` (emergency stop, `stopBoundMs` = `estopHoldMs` + GRBL's alarm pause) and
 * `onOperationAborted` (a cancelled step); `pause`/`resume` (a cell hold) never write once a
 * stop has begun. After a soft reset GRBL flushes its buffers and prints the banner again; the
 * driver discards the replies still owed and lets no line out before the banner.
 *
 * Events besides the Device ones: `'warning'` (string) for lines that are neither replies nor
 * anything GRBL pushes (garbled on the wire), and for alarms outside an operation.
 */
export class GrblGantry extends Device implements Pausable {
  readonly kind = 'gantry';
  readonly operations = GANTRY_OPERATIONS;
  readonly connection: LineConnection;
  readonly softLimits: SoftLimits;
  readonly pollIntervalMs: number;
  readonly allowUnlock: boolean;
  readonly safeState: { spindleOff: boolean; coolantOff: boolean };
  readonly estopHoldMs: number;
  readonly cancelHoldMs: number;
  readonly replyTimeoutMs: number;
  readonly programDir: string | undefined;

  /** The last status report. */
  private last: GrblStatus | undefined;
  private wco: Axes3 | undefined;
  private modal: ModalState = { ...DEFAULT_MODAL };
  private offsets: Offsets = ZERO_OFFSETS;
  private parserStateKnown = false;
  private firmwareValue: string | undefined;
  /** GRBL answered in this session (banner or status report). */
  private alive = false;
  /** A controller was seen before (this or an earlier session): a later unexpected banner means it restarted. */
  private seenController = false;
  /** The alarm that put GRBL in the alarm state (null: locked at power-up, or not in alarm). */
  private alarmCode: number | null = null;
  /** An alarm the driver did not cause, until reset, home or unlock clears it. */
  private alarmFault: string | null = null;
  /** GRBL printed `[MSG:Reset to continue]`: it accepts nothing until a soft reset. */
  private criticalLock = false;
  /** A soft reset the driver wrote, until its banner. */
  private resetPending: { resolve: () => void; reject: (err: Error) => void; promise: Promise<void> } | undefined;
  /** The stop sequence in progress (hold, wait, reset, banner); the next operation waits for it. */
  private settling: Promise<void> | undefined;
  private readonly statusWaiters = new Set<Waiter>();
  private pollTimer: NodeJS.Timeout | undefined;
  private session: AbortController | undefined;
  /** Aborted with a GRBL error (an alarm, an unexpected reset) to fail the operation in progress. */
  private opAbort: AbortController | undefined;
  private currentOp: string | undefined;
  private lastTelemetry = '';
  /** Why the last session ended, for the sentence of a stop it cut short. */
  private linkLoss = 'the link is down';
  private closed = false;
  private readonly programs = new WeakMap<object, ProgramLine[]>();
  /** What the last `safe()` found. */
  lastSafeCheck: SafeCheck | undefined;

  /** Validates the options (a RangeError or EndpointError names the bad one); connects on `open()`. */
  constructor(options: GrblGantryOptions) {
    super({ name: options.name, ownership: options.ownership, critical: options.critical });
    this.softLimits = {};
    for (const axis of ['x', 'y', 'z'] as const) {
      const l = options.softLimits?.[axis];
      if (!l) continue;
      if (!(Number.isFinite(l.min) && Number.isFinite(l.max) && l.max > l.min)) {
        throw new RangeError(`${this.name}: the soft limit of ${axis.toUpperCase()} needs a finite min below its max, got ${JSON.stringify(l)}`);
      }
      this.softLimits[axis] = { min: l.min, max: l.max };
    }
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    if (!(this.pollIntervalMs >= 20 && this.pollIntervalMs <= 60_000)) throw new RangeError(`${this.name}: the status poll period must be 20 ms to 60 s, got ${this.pollIntervalMs}`);
    this.allowUnlock = options.allowUnlock ?? false;
    this.safeState = { spindleOff: options.safeState?.spindleOff ?? true, coolantOff: options.safeState?.coolantOff ?? true };
    this.estopHoldMs = options.estopHoldMs ?? 0;
    this.cancelHoldMs = options.cancelHoldMs ?? 2000;
    this.replyTimeoutMs = options.replyTimeoutMs ?? 10_000;
    for (const [what, v] of [['emergency-stop hold', this.estopHoldMs], ['cancel hold', this.cancelHoldMs]] as const) {
      if (!(v >= 0 && v <= 60_000)) throw new RangeError(`${this.name}: the ${what} must be 0 to 60000 ms, got ${v}`);
    }
    if (!(this.replyTimeoutMs > 0)) throw new RangeError(`${this.name}: the reply timeout must be more than 0 ms, got ${this.replyTimeoutMs}`);
    this.programDir = options.programDir ? resolve(options.programDir) : undefined;
    this.connection = options.connection ?? gantryConnection(options.address ?? '', options);
    this.connection.on('status', (status, detail) => this.onConnectionStatus(status, detail));
    this.connection.on('connected', () => this.onConnected());
    this.connection.on('message', (line) => this.onPush(line));
  }

  /** The banner's firmware and version (`Grbl 1.1h`), once seen. */
  get firmware(): string | undefined {
    return this.firmwareValue;
  }

  /** The last status report, parsed (undefined before the first). */
  get lastStatus(): GrblStatus | undefined {
    return this.last;
  }

  /**
   * The emergency stop lets the feed hold run `estopHoldMs` before its soft reset; a reset in
   * motion then raises ALARM:3, and GRBL pauses `ALARM_PAUSE_MS` before the banner that
   * acknowledges the stop.
   */
  override get stopBoundMs(): number {
    return this.estopHoldMs + ALARM_PAUSE_MS;
  }

  override get stopBoundDetail(): string {
    return `its emergency-stop hold of ${this.estopHoldMs} ms, then GRBL's ${ALARM_PAUSE_MS} ms pause after the alarm before the banner that acknowledges the stop`;
  }

  /** Start connecting (and reconnecting); resolves at once, status follows on `'health'`. */
  async open(): Promise<void> {
    if (this.closed) throw new WorkcellError('closed', `${this.name}: cannot open: the device was closed`, { subject: this.name });
    this.connection.open();
  }

  /** Stop polling and close the connection for good; resolves once the transport is closed. */
  async close(): Promise<void> {
    this.closed = true;
    this.endSession('the device was closed');
    await this.connection.close();
    this.setStatus('disconnected', 'closed');
  }

  // ----- the device contract -----

  protected async perform(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    const opAbort = new AbortController();
    this.opAbort = opAbort;
    this.currentOp = op.name;
    const signal = AbortSignal.any([ctx.signal, opAbort.signal]);
    setMaxListeners(PROGRAM_WINDOW * 2 + 20, signal);
    try {
      await this.settle(signal);
      if (this.criticalLock) await this.resetController(signal);
      switch (op.name) {
        case 'home':
          return await this.home(op, params, signal);
        case 'move':
          return await this.move(op, params, signal);
        case 'jog':
          return await this.jog(op, params, signal);
        case 'program':
          return await this.program(op, params, signal, ctx);
        case 'spindle':
          return await this.spindle(op, params, signal);
        case 'status':
          return this.describeStatus(await this.nextStatus(signal));
        case 'unlock':
          return await this.unlock(op, signal);
        default:
          throw new WorkcellError('unknown-operation', `${this.name}: operation ${op.name} is not implemented`, { subject: this.name, operation: op.name });
      }
    } catch (err) {
      // A GRBL alarm or reset failed the operation: that, not the aborted request, is the story.
      if (opAbort.signal.aborted && !ctx.signal.aborted) throw opAbort.signal.reason;
      throw this.explain(op.name, err);
    } finally {
      if (this.opAbort === opAbort) this.opAbort = undefined;
      this.currentOp = undefined;
    }
  }

  /**
   * Refuses, before anything is sent: a move or jog without axes, a G1 move or a jog without a
   * feed, targets outside the soft limits (absolute ones through the work offset, relative ones
   * from the tracked position), a program that cannot be read or split, any motion of it outside
   * the soft limits (followed through GRBL's modal state), spindle on without a speed, and unlock
   * when the device does not allow it.
   */
  protected override checkLimits(op: OperationSpec, params: Record<string, unknown>): void {
    const refuse = (why: string, value?: unknown) =>
      new WorkcellError('invalid-command', `${this.name}: ${op.name} refused: ${why}; nothing was sent`, { subject: this.name, operation: op.name, value });
    switch (op.name) {
      case 'move':
      case 'jog': {
        if (params.x === undefined && params.y === undefined && params.z === undefined) throw refuse('no axis given (x, y or z)');
        if (op.name === 'move' && params.rapid !== true && params.feed === undefined) throw refuse('a G1 move needs a feed rate (feed, mm/min), or set rapid for G0');
        const target = this.motionTarget(params, this.last?.machine, this.wco);
        if (target) this.checkTarget(op, target, 'target');
        return;
      }
      case 'program': {
        const lines = this.loadProgram(op, params, refuse);
        this.programs.set(params, lines);
        if (this.last?.machine && this.parserStateKnown) this.checkProgram(op, lines, this.last.machine);
        return;
      }
      case 'spindle':
        if (params.on === true && params.speed === undefined) throw refuse('switching the spindle on needs a speed (speed, rpm)');
        return;
      case 'unlock':
        if (!this.allowUnlock) {
          throw refuse('this device does not allow clearing an alarm without homing ($X); home it, or allow unlocking in its configuration');
        }
        return;
    }
  }

  /**
   * Emergency stop: feed hold `!` (and jog cancel 0x85 while jogging) now, then — at once by
   * default, or once the machine has come to rest within `estopHoldMs` — soft reset 0x18, which
   * empties GRBL's buffers and switches spindle and coolant off. A reset during motion makes GRBL
   * raise ALARM:3 (position untrusted, moves refused until homed). Resolves when GRBL has
   * printed its banner again (the acknowledgement). Rejects at once when the link is down
   * ("Mill: cannot stop: not connected (…)"), and as soon as the link drops during the hold or
   * before the banner ("Mill: stop failed: the link dropped …"). An owed stop (see `linkUp`) is
   * this same sequence, written first thing on the new connection; the banner that follows it
   * is its acknowledgement.
   */
  protected sendStop(_reason: Cancellation): Promise<void> {
    if (!this.connection.isConnected) {
      return Promise.reject(new WorkcellError('stop-failed', `${this.name}: cannot stop: ${notConnected(this.connection)}`, { subject: this.name, operation: 'stop' }));
    }
    return this.haltAndReset(this.estopHoldMs, this.isJogging());
  }

  /**
   * A cancelled step (not an emergency stop): a jog gets jog cancel (GRBL flushes it and keeps
   * the position); other motion a feed hold, and once at rest (bounded by `cancelHoldMs`) a soft
   * reset that flushes the lines still buffered; homing, which a feed hold cannot stop, a soft
   * reset at once (ALARM:6). Runs in the background; the next operation waits for it.
   */
  protected override onOperationAborted(op: OperationSpec, _reason: unknown): void {
    if (!this.connection.isConnected) return;
    switch (op.name) {
      case 'jog':
        this.track(this.cancelJog());
        return;
      case 'home':
        this.track(this.haltAndReset(0, false));
        return;
      case 'move':
      case 'program':
      case 'spindle':
        this.track(this.haltAndReset(this.cancelHoldMs, false));
        return;
      default:
        return; // status, unlock: nothing moves
    }
  }

  /**
   * Safe state: spindle and coolant off (`M5`, `M9`, as configured), then checked in a status
   * report that shows the accessories (`FS:` speed 0, no `A:` spindle or coolant). In the alarm
   * state GRBL refuses G-code (error:9); its soft reset has already switched spindle and coolant
   * off, so nothing is sent and the check alone decides. A machine still in motion or hold is
   * stopped first. Fails when the check finds anything still on.
   */
  async safe(signal: AbortSignal): Promise<void> {
    await this.queue.run('safe', signal, async (s) => {
      if (!this.connection.isConnected) await this.connection.waitConnected(s);
      await this.settle(s);
      let status = await this.nextStatus(s);
      if (this.criticalLock || ['Run', 'Jog', 'Hold', 'Door', 'Home'].includes(status.state)) {
        await this.haltAndReset(status.state === 'Hold' || status.state === 'Door' ? 0 : this.cancelHoldMs, status.state === 'Jog');
        status = await this.nextStatus(s);
      }
      const sent: string[] = [];
      if (status.state !== 'Alarm' && status.state !== 'Sleep') {
        if (this.safeState.spindleOff) sent.push('M5');
        if (this.safeState.coolantOff) sent.push('M9');
        for (const line of sent) await this.command('safe', line, s);
      }
      // The accessory field comes with the overrides, at most every few reports.
      let checked = status;
      for (let i = 0; i < 40 && !checked.accessories; i++) checked = await this.nextStatus(s);
      const a = checked.accessories;
      const check: SafeCheck = {
        state: checked.stateText,
        spindleRpm: checked.spindle ?? 0,
        spindle: a?.spindle ?? 'off',
        flood: a?.flood ?? false,
        mist: a?.mist ?? false,
        sent,
      };
      this.lastSafeCheck = check;
      const still: string[] = [];
      if (this.safeState.spindleOff && (check.spindleRpm > 0 || check.spindle !== 'off')) still.push(`the spindle still runs (${check.spindleRpm} rpm, ${check.spindle})`);
      if (this.safeState.coolantOff && (check.flood || check.mist)) still.push(`coolant is still on (${[check.flood && 'flood', check.mist && 'mist'].filter(Boolean).join(', ')})`);
      if (!a) still.push('no status report showed the spindle and coolant state');
      if (still.length) throw new WorkcellError('safe-failed', `${this.name}: safe state not reached: ${still.join('; ')}`, { subject: this.name, operation: 'safe', value: check });
    });
  }

  /**
   * Cell reset after an emergency stop: a GRBL waiting for a reset after a critical alarm gets
   * one; an alarm lock is cleared with `$X` only when the device allows unlocking, otherwise it is
   * left and the status says that homing is required. Either way the position stays untrusted
   * until `home`. The fault is cleared (a reset cannot open GRBL's lock without the device's leave).
   */
  override async reset(signal: AbortSignal): Promise<void> {
    if (!this.connection.isConnected) await this.connection.waitConnected(signal);
    await this.queue.run('reset', signal, async (s) => {
      await this.settle(s);
      if (this.criticalLock) await this.resetController(s);
      const status = await this.nextStatus(s);
      this.alarmFault = null;
      if (status.state === 'Alarm' && this.allowUnlock) {
        await this.command('reset', '$X', s, true);
        this.alarmCode = null;
      }
      this.refreshHealth(true);
    });
  }

  /** The safety door is open (`Door:` state or the `D` input pin): a reset cannot clear that. */
  override activeFault(): string | null {
    const s = this.last;
    if (s && (s.state === 'Door' || s.pins.includes('D'))) return `safety door open (${s.stateText})`;
    return null;
  }

  /**
   * Hold (cell hold): feed hold `!`; resolves when GRBL reports the hold (or after 2 s). Nothing
   * is written once `signal` has fired (it rejects with its reason) or while a stop sequence is
   * under way (it rejects saying so); when `signal` fires during the wait it rejects at once
   * with its reason.
   */
  async pause(signal: AbortSignal): Promise<void> {
    const stops = this.stopCount;
    const session = this.session;
    this.checkHoldWanted('pause', 'feed hold (!)', signal, stops, session);
    if (!this.connection.isConnected) return;
    await this.connection.writeNow(Buffer.from([REALTIME.feedHold]));
    await this.waitFor((s) => s.state !== 'Run' && s.state !== 'Jog', 2000, signal).catch(() => undefined);
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
    const stops = this.stopCount;
    const session = this.session;
    this.checkHoldWanted('resume', 'cycle start (~)', signal, stops, session);
    if (!this.connection.isConnected) return;
    await this.waitFor((s) => !(s.state === 'Hold' && s.subState === 1), 10_000, signal).catch(() => undefined);
    // Checked again in the same turn as the write: a stop begun meanwhile wins.
    this.checkHoldWanted('resume', 'cycle start (~)', signal, stops, session);
    await this.connection.writeNow(Buffer.from([REALTIME.cycleStart]));
  }

  /** Throws unless the pause or resume begun with `stops` and `session` may still write: see `resume`. */
  private checkHoldWanted(operation: string, frame: string, signal: AbortSignal, stops: number, session: AbortController | undefined): void {
    if (signal.aborted) throw signal.reason;
    const why =
      this.stopCount !== stops ? 'a stop began on the device'
      : this.settling ? 'a stop sequence is under way'
      : session !== this.session ? 'the link dropped (GRBL was reset)'
      : undefined;
    if (why) throw new WorkcellError(`${operation}-abandoned`, `${this.name}: ${operation} abandoned: ${why}; ${frame} not sent`, { subject: this.name, operation });
  }

  /** Shows GRBL's state while ready (the base class clears the detail after each operation). */
  protected override setStatus(status: DeviceStatus, detail = '', fault?: string | null): void {
    const shown = (status === 'ready' || status === 'fault') && detail === '' ? this.stateDetail() : detail;
    if (fault === undefined) super.setStatus(status, shown);
    else super.setStatus(status, shown, fault);
  }

  // ----- operations -----

  private async home(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<GantryPosition> {
    await this.command(op.name, '$H', signal, true, params.timeoutMs as number);
    this.alarmCode = null;
    this.alarmFault = null;
    this.setPositionTrusted(true);
    const status = await this.nextStatus(signal);
    this.refreshHealth();
    return this.position(status);
  }

  private async move(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<GantryPosition> {
    const start = await this.positionForLimits(params, signal);
    const target = this.motionTarget(params, start.machine, this.wco);
    if (target) this.checkTarget(op, target, 'target');
    const relative = params.mode === 'relative';
    const words = this.axisWords(params);
    const motion = params.rapid === true ? 'G0' : `G1`;
    const feed = params.rapid === true || params.feed === undefined ? '' : ` F${num(params.feed as number)}`;
    const frame = relative ? 'G91' : params.coordinates === 'machine' ? 'G90 G53' : 'G90';
    await this.command(op.name, `G21 ${frame} ${motion} ${words}${feed}`, signal);
    if (relative) await this.command(op.name, 'G90', signal);
    this.modal = { ...this.modal, unitsMm: 1, absolute: true, motion: params.rapid === true ? 0 : 1 };
    // G4 P0 is answered once the planner has run dry: the motion has ended.
    await this.command(op.name, 'G4 P0', signal, false, Infinity);
    return this.position(await this.nextStatus(signal));
  }

  private async jog(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<GantryPosition> {
    const start = await this.positionForLimits(params, signal);
    const target = this.motionTarget(params, start.machine, this.wco);
    if (target) this.checkTarget(op, target, 'target');
    const frame = params.mode === 'absolute' ? (params.coordinates === 'machine' ? 'G53' : 'G90') : 'G91';
    await this.command(op.name, `$J=G21 ${frame} ${this.axisWords(params)} F${num(params.feed as number)}`, signal);
    // GRBL starts a jog before it answers: it is over when the state leaves Jog.
    const end = await this.waitFor((s) => s.state !== 'Jog', Infinity, signal);
    if (end.state === 'Alarm') throw new GrblAlarmError(this.name, op.name, this.alarmCode ?? 0);
    return this.position(end);
  }

  private async program(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal, ctx: OperationContext): Promise<unknown> {
    const lines = this.programs.get(params) ?? splitProgram(String(params.gcode ?? ''));
    const start = await this.nextStatus(signal);
    if (!this.parserStateKnown) await this.readParserState(signal);
    if (start.machine) this.checkProgram(op, lines, start.machine);
    const total = lines.length;
    let acked = 0;
    let lastProgress = 0;
    const progress = (force = false) => {
      const now = performance.now();
      if (!force && now - lastProgress < 100) return;
      lastProgress = now;
      ctx.onProgress?.({ fraction: total ? acked / total : 1, text: `line ${acked}/${total}` });
    };
    progress(true);
    let failure: GrblCommandError | undefined;
    const stream = new AbortController();
    const lineSignal = AbortSignal.any([signal, stream.signal]);
    setMaxListeners(PROGRAM_WINDOW * 2 + 20, lineSignal);
    const window: Promise<void>[] = [];
    const send = (line: ProgramLine): Promise<void> =>
      this.connection.request(line.text, { signal: lineSignal, timeoutMs: Infinity }).then((reply) => {
        const code = errorCode(reply);
        if (code !== undefined) {
          if (!failure) {
            failure = new GrblCommandError(this.name, op.name, line.text, code, ` line ${line.source}`);
            stream.abort(failure);
          }
          return;
        }
        acked++;
        progress();
      });
    try {
      for (const line of lines) {
        if (failure) break;
        const sent = send(line);
        sent.catch(() => undefined); // awaited below; a rejection is never left unhandled
        window.push(sent);
        if (window.length >= PROGRAM_WINDOW) await window.shift();
      }
      await Promise.all(window);
    } catch (err) {
      if (!failure) throw err;
    }
    if (failure) {
      // Lines already in GRBL's buffer would still run: hold, and reset once at rest.
      await this.haltAndReset(this.cancelHoldMs, false);
      throw failure;
    }
    await this.command(op.name, 'G4 P0', signal, false, Infinity);
    progress(true);
    // A program may change modes and offsets (G20, G91, G10, G92): read them again.
    await this.readParserState(signal).catch(() => undefined);
    return { lines: total, ...this.position(await this.nextStatus(signal)) };
  }

  private async spindle(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<unknown> {
    const on = params.on === true;
    const direction = (params.direction as 'cw' | 'ccw' | undefined) ?? 'cw';
    const line = on ? `${direction === 'ccw' ? 'M4' : 'M3'} S${num(params.speed as number)}` : 'M5';
    await this.command(op.name, line, signal, false, Infinity);
    return on ? { on, speed: params.speed, direction } : { on, speed: 0, direction: null };
  }

  private async unlock(op: OperationSpec, signal: AbortSignal): Promise<unknown> {
    await this.command(op.name, '$X', signal, true);
    this.alarmCode = null;
    this.alarmFault = null;
    const status = await this.nextStatus(signal);
    this.refreshHealth();
    return { state: status.stateText, positionTrusted: this.positionTrusted !== false };
  }

  // ----- limits -----

  /** The machine-coordinate target of a move or jog, or undefined when the position or offset needed is not known yet. */
  private motionTarget(params: Record<string, unknown>, machine: Axes3 | undefined, wco: Axes3 | undefined): Axes3 | undefined {
    if (!machine) return undefined;
    const target = { ...machine };
    const relative = params.mode === 'relative';
    const inMachine = params.coordinates === 'machine';
    if (!relative && !inMachine && !wco) return undefined;
    for (const axis of ['x', 'y', 'z'] as const) {
      const v = params[axis] as number | undefined;
      if (v === undefined) continue;
      target[axis] = relative ? machine[axis] + v : inMachine ? v : v + wco![axis];
    }
    return target;
  }

  /**
   * A fresh status report with what the soft-limit check needs: the machine position and, for
   * absolute work-coordinate targets, the work offset (GRBL prints `WCO:` only every few reports).
   */
  private async positionForLimits(params: Record<string, unknown>, signal: AbortSignal): Promise<GrblStatus> {
    let status = await this.nextStatus(signal);
    const needsWco = params.mode !== 'relative' && params.coordinates !== 'machine';
    const limited = Object.keys(this.softLimits).length > 0;
    for (let i = 0; limited && (!status.machine || (needsWco && !this.wco)); i++) {
      if (i >= 40) throw new WorkcellError('no-position', `${this.name}: cannot check the soft limits: GRBL's status reports do not show the ${status.machine ? 'work offset (WCO)' : 'machine position'}; nothing was sent`, { subject: this.name });
      status = await this.nextStatus(signal);
    }
    return status;
  }

  private checkTarget(op: OperationSpec, target: Axes3, what: string): void {
    for (const axis of ['x', 'y', 'z'] as const) {
      const limit = this.softLimits[axis];
      if (!limit) continue;
      const v = round3(target[axis]);
      if (v < limit.min - 1e-6 || v > limit.max + 1e-6) {
        throw this.limitError(op, `the ${axis.toUpperCase()} ${what} (machine coordinates)`, v, `${limit.min} to ${limit.max} mm`);
      }
    }
  }

  private checkProgram(op: OperationSpec, lines: readonly ProgramLine[], start: Axes3): void {
    if (!this.softLimits.x && !this.softLimits.y && !this.softLimits.z) return;
    for (const motion of planMotions(lines, start, this.modal, this.offsets)) {
      this.checkTarget(op, motion.target, `target of line ${motion.line.source} ${JSON.stringify(motion.line.text)}`);
    }
  }

  private loadProgram(op: OperationSpec, params: Record<string, unknown>, refuse: (why: string, value?: unknown) => Error): ProgramLine[] {
    const gcode = params.gcode as string | undefined;
    const file = params.file as string | undefined;
    if ((gcode === undefined) === (file === undefined)) throw refuse('give the program either as gcode or as file (one of them)');
    let text = gcode ?? '';
    // Read synchronously: the soft-limit check of every line must be complete before the
    // operation is queued (checkLimits is synchronous); files are bounded to 50 MB below.
    if (file !== undefined) {
      if (!this.programDir) throw refuse(`program files are not enabled on this device (no program folder configured), got file ${JSON.stringify(file)}`, file);
      const path = resolve(this.programDir, file);
      let real: string;
      try {
        real = realpathSync(path);
      } catch (err) {
        throw refuse(`cannot read the program file ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file in the program folder' : describeError(err)}`, file);
      }
      const inside = relative(realpathSync(this.programDir), real);
      if (inside.startsWith('..') || isAbsolute(inside)) throw refuse(`the program file ${JSON.stringify(file)} is outside the program folder`, file);
      if (statSync(real).size > 50_000_000) throw refuse(`the program file ${JSON.stringify(file)} is larger than 50 MB`, file);
      text = readFileSync(real, 'utf8');
    }
    try {
      const lines = splitProgram(text);
      if (lines.length === 0) throw refuse('the program has no G-code lines');
      return lines;
    } catch (err) {
      if (err instanceof ProgramError) throw refuse(`program ${err.message}`, err.text);
      throw err;
    }
  }

  private axisWords(params: Record<string, unknown>): string {
    return (['x', 'y', 'z'] as const)
      .filter((a) => params[a] !== undefined)
      .map((a) => `${a.toUpperCase()}${num(params[a] as number)}`)
      .join(' ');
  }

  // ----- stopping -----

  private isJogging(): boolean {
    return this.currentOp === 'jog' || this.last?.state === 'Jog';
  }

  /** Keep the stop sequence as what the next operation waits for; its failure is reported, not thrown. */
  private track(p: Promise<void>): void {
    p.catch((err: unknown) => this.emit('warning', `${this.name}: stopping did not complete: ${describeError(err)}`));
  }

  /**
   * Feed hold (and jog cancel) now; then, at once when `holdMs` is 0, otherwise once GRBL
   * reports the machine at rest or after `holdMs`, a soft reset; resolves after the banner. A
   * call while one is under way writes the hold again and joins it.
   */
  private haltAndReset(holdMs: number, jog: boolean): Promise<void> {
    const first = [REALTIME.feedHold, ...(jog ? [REALTIME.jogCancel] : [])];
    if (holdMs === 0) {
      const banner = this.expectReset();
      this.connection.writeNow(Buffer.from([...first, REALTIME.reset])).catch(() => undefined);
      this.settling = this.joinSettling(banner);
      return this.settling;
    }
    this.connection.writeNow(Buffer.from(first)).catch(() => undefined);
    if (this.settling) return this.settling;
    const session = this.session;
    const run = (async () => {
      await this.waitFor((s) => s.state === 'Idle' || s.state === 'Alarm' || (s.state === 'Hold' && s.subState === 0), holdMs, session?.signal).catch(() => undefined);
      // The link dropped during the hold: no reset can go out, no banner will come.
      if (!session || session.signal.aborted) throw this.linkDropped('during the feed hold, before the soft reset');
      await this.resetNow();
    })();
    this.settling = this.joinSettling(run);
    return this.settling;
  }

  /** Jog cancel; if the jog has not ended within `cancelHoldMs`, a soft reset. */
  private cancelJog(): Promise<void> {
    this.connection.writeNow(Buffer.from([REALTIME.jogCancel])).catch(() => undefined);
    if (this.settling) return this.settling;
    const run = (async () => {
      try {
        await this.waitFor((s) => s.state !== 'Jog', this.cancelHoldMs);
      } catch {
        await this.resetNow();
      }
    })();
    this.settling = this.joinSettling(run);
    return this.settling;
  }

  /** Soft reset now (the same as `resetController`, outside any operation). */
  private resetNow(): Promise<void> {
    const banner = this.expectReset();
    this.connection.writeNow(Buffer.from([REALTIME.reset])).catch(() => undefined);
    return banner;
  }

  /** A soft reset from within an operation (GRBL waiting after a critical alarm). */
  private async resetController(signal: AbortSignal): Promise<void> {
    await abortable(signal, this.resetNow());
  }

  /** Registers the reset we are about to write; resolves at its banner (rejects after RESET_BANNER_MS). */
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
    return new Promise<void>((res, rej) => {
      const timer = setTimeout(() => {
        if (this.resetPending === pending) this.resetPending = undefined;
        rej(new WorkcellError('stop-failed', `${this.name}: GRBL did not print its banner within ${RESET_BANNER_MS} ms of the soft reset`, { subject: this.name, operation: 'stop' }));
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
      if (this.settling === settled) this.settling = undefined;
    });
    settled.catch(() => undefined);
    return settled;
  }

  /** Waits for a stop sequence under way (its failure is not this operation's); throws if the link is down. */
  private async settle(signal: AbortSignal): Promise<void> {
    while (this.settling) await abortable(signal, this.settling.catch(() => undefined));
  }

  // ----- talking to GRBL -----

  /** Sends one line and resolves on `ok`; `error:N` throws a GrblCommandError. `$` commands go alone (exclusive). */
  private async command(operation: string, line: string, signal: AbortSignal, exclusive = false, timeoutMs = this.replyTimeoutMs): Promise<void> {
    const reply = await this.connection.request(line, { signal, exclusive, timeoutMs });
    const code = errorCode(reply);
    if (code !== undefined) throw new GrblCommandError(this.name, operation, line, code);
  }

  /** `$G` and `$#`: the modal state and offsets a program starts from. */
  private async readParserState(signal: AbortSignal): Promise<void> {
    const g = await this.connection.request('$G', { signal, exclusive: true, isReply: bracketReply, timeoutMs: this.replyTimeoutMs });
    const modal = g.parts.map(parseGcodeModes).find(Boolean);
    const h = await this.connection.request('$#', { signal, exclusive: true, isReply: bracketReply, timeoutMs: this.replyTimeoutMs });
    if (errorCode(g) !== undefined || errorCode(h) !== undefined || !modal) return;
    const offsets: Offsets = { coordSystems: ZERO_OFFSETS.coordSystems.map((c) => ({ ...c })), g28: { ...ZERO_OFFSETS.g28 }, g30: { ...ZERO_OFFSETS.g30 }, g92: { ...ZERO_OFFSETS.g92 }, tlo: 0 };
    for (const line of h.parts) foldOffsetLine(offsets, line);
    this.modal = modal;
    this.offsets = offsets;
    this.parserStateKnown = true;
  }

  /** Asks `?` now and resolves with the next status report (asking again every 250 ms, up to `timeoutMs`). */
  private nextStatus(signal?: AbortSignal, timeoutMs = 5000): Promise<GrblStatus> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<GrblStatus>((resolveIt, reject) => {
      const ask = () => this.connection.writeNow(Buffer.from([REALTIME.status])).catch(() => undefined);
      const waiter: Waiter = {
        resolve: (s) => {
          done();
          resolveIt(s);
        },
      };
      const repeat = setInterval(ask, 250);
      const timer = setTimeout(() => {
        done();
        reject(new WorkcellError('no-status', `${this.name}: GRBL sent no status report within ${timeoutMs} ms`, { subject: this.name, operation: 'status' }));
      }, timeoutMs);
      const onAbort = () => {
        done();
        reject(signal!.reason);
      };
      const done = () => {
        clearInterval(repeat);
        clearTimeout(timer);
        this.statusWaiters.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.statusWaiters.add(waiter);
      ask();
    });
  }

  /** Polls fast until a status report satisfies `done`; rejects after `boundMs` or when `signal` fires. */
  private async waitFor(done: (s: GrblStatus) => boolean, boundMs: number, signal?: AbortSignal): Promise<GrblStatus> {
    const deadline = performance.now() + boundMs;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new WorkcellError('wait-timeout', `${this.name}: GRBL did not reach the expected state within ${boundMs} ms (it is ${this.last?.stateText ?? 'unknown'})`);
      const s = await this.nextStatus(signal, Math.min(5000, left));
      if (done(s)) return s;
      await sleep(Math.min(25, Math.max(0, deadline - performance.now())), signal);
    }
  }

  // ----- what GRBL says -----

  private onPush(raw: string): void {
    const line = raw.trim();
    if (line === '') return;
    if (line.startsWith('<')) {
      const status = parseStatusReport(line, this.wco);
      if (status) this.onStatus(status);
      else this.emit('warning', `${this.name}: ignored a damaged status report ${JSON.stringify(line)}`);
      return;
    }
    const banner = parseBanner(line);
    if (banner) return this.onBanner(banner);
    const alarm = /^ALARM:(\d+)$/.exec(line);
    if (alarm) return this.onAlarm(Number(alarm[1]));
    if (line === '[MSG:Reset to continue]') {
      this.criticalLock = true;
      return;
    }
    if (line.startsWith('[') && line.endsWith(']')) return; // feedback messages: [MSG:…], [GC:…], …
    if (/^\$\d+=/.test(line) || line.startsWith('>')) return; // settings and startup-line echoes
    if (isFinalReply(line)) return; // an ok nobody was owed (absorbed after a reset)
    this.emit('warning', `${this.name}: ignored a line GRBL does not send ${JSON.stringify(line.length > 60 ? `${line.slice(0, 57)}...` : line)}`);
  }

  private onStatus(status: GrblStatus): void {
    this.last = status;
    if (status.wco) this.wco = status.wco;
    if (!this.alive) {
      this.alive = true;
      this.seenController = true;
      // At connect: GRBL boots locked when homing is enabled (or it is in alarm already).
      if (status.state === 'Alarm') this.setPositionTrusted(false);
      else if (this.positionTrusted === undefined) this.setPositionTrusted(true);
      void this.becomeReady(status);
    } else if (this.status !== 'connecting') {
      if (status.state !== 'Alarm' && this.alarmCode !== null && !this.alarmFault) this.alarmCode = null;
      this.refreshHealth();
    }
    for (const waiter of [...this.statusWaiters]) waiter.resolve(status);
    const readings = {
      state: status.stateText,
      machine: status.machine ?? null,
      work: status.work ?? null,
      feed: status.feed ?? null,
      spindle: status.spindle ?? null,
    };
    const key = JSON.stringify(readings);
    if (key !== this.lastTelemetry) {
      this.lastTelemetry = key;
      this.telemetry({ ...readings, positionTrusted: this.positionTrusted !== false });
    }
  }

  /** First report of a session: read modes and offsets (when GRBL takes `$` commands), then ready. */
  private async becomeReady(status: GrblStatus): Promise<void> {
    const session = this.session;
    const signal = session?.signal ?? new AbortController().signal;
    if (this.settling) {
      // A stop sequence (an owed stop written at connect) goes first: ready once it has settled.
      await this.settle(signal).catch(() => undefined);
      status = await this.nextStatus(signal).catch(() => status);
    }
    if (status.state === 'Idle' || status.state === 'Alarm') {
      await this.readParserState(signal).catch(() => undefined);
    }
    if (session !== this.session || !this.connection.isConnected) return;
    this.refreshHealth(true);
  }

  private onBanner(banner: { firmware: string; version: string }): void {
    this.firmwareValue = `${banner.firmware} ${banner.version}`;
    const expected = this.resetPending;
    this.resetPending = undefined;
    this.criticalLock = false;
    this.wco = undefined;
    this.parserStateKnown = false;
    if (!expected) {
      // GRBL restarted on its own (power, USB reset, watchdog): whatever it was doing is gone.
      if (this.seenController) this.setPositionTrusted(false);
      const op = this.currentOp;
      if (op && this.opAbort) {
        this.opAbort.abort(new WorkcellError('grbl-reset', `${this.name}: ${op} failed: GRBL reset unexpectedly (${this.firmwareValue} banner); the position is no longer trusted`, {
          subject: this.name,
          operation: op,
        }));
      }
    }
    this.seenController = true;
    this.connection.discardPendingReplies(`GRBL was reset (${this.firmwareValue} banner)`);
    expected?.resolve();
    if (!this.alive) {
      // Ready after the first status report, which tells whether GRBL is locked.
      this.nextStatus(this.session?.signal).catch(() => undefined);
    } else {
      this.readParserState(this.session?.signal ?? new AbortController().signal).catch(() => undefined);
    }
  }

  private onAlarm(code: number): void {
    this.alarmCode = code;
    if (POSITION_LOST_ALARMS.has(code)) this.setPositionTrusted(false);
    if (code === 1 || code === 2) this.criticalLock = true;
    const ours = this.resetPending !== undefined || this.settling !== undefined;
    if (ours) return;
    const text = describeGrblAlarm(code);
    this.alarmFault = text;
    const op = this.currentOp;
    if (op && this.opAbort) this.opAbort.abort(new GrblAlarmError(this.name, op, code));
    else this.emit('warning', `${this.name}: GRBL raised ${text}`);
    this.setStatus('fault', text);
    // GRBL waits for a reset after a hard or soft limit; give it one so the link resynchronises.
    if (this.criticalLock) this.track(this.haltAndReset(0, false));
  }

  /** Health from what is known: a fault while an alarm we did not cause stands, else ready (busy is the base's). */
  private refreshHealth(force = false): void {
    if (!this.alive || !this.connection.isConnected) return;
    if (this.status === 'busy' && !force) return;
    if (this.alarmFault) this.setStatus('fault', this.alarmFault);
    else this.setStatus('ready');
  }

  private stateDetail(): string {
    const s = this.last;
    if (!s) return this.firmwareValue ?? '';
    if (s.state === 'Alarm') {
      const why = this.alarmCode !== null ? `ALARM:${this.alarmCode}, ` : '';
      return `Alarm (${why}${this.positionTrusted === false ? 'home with $H' : 'unlock or home'})`;
    }
    return s.stateText;
  }

  private describeStatus(s: GrblStatus): unknown {
    return {
      state: s.stateText,
      machine: s.machine ?? null,
      work: s.work ?? null,
      feed: s.feed ?? null,
      spindle: s.spindle ?? null,
      positionTrusted: this.positionTrusted !== false,
      alarm: s.state === 'Alarm' ? this.alarmCode : null,
    };
  }

  private position(s: GrblStatus): GantryPosition {
    return { state: s.stateText, machine: s.machine ?? null, work: s.work ?? null };
  }

  /** An error from below as a sentence naming the device and operation (cancellations pass unchanged). */
  private explain(operation: string, err: unknown): unknown {
    if (isCancellation(err) || !(err instanceof IoError)) return err;
    return new WorkcellError(err.code, `${this.name}: ${operation} failed: ${err.message}`, { subject: this.name, operation, cause: err });
  }

  // ----- connection lifecycle -----

  private onConnectionStatus(status: ConnectionStatus, detail: StatusDetail): void {
    if (status === 'connected' || status === 'idle') return;
    if (status !== 'connecting') this.endSession(`${this.connection.description}: ${detail.reason ?? status}`);
    const health = connectionHealth(status, detail, this.connection.description);
    if (health) this.setStatus(health.status, health.detail);
  }

  private onConnected(): void {
    this.endSession('a new session began');
    this.session = new AbortController();
    this.alive = false;
    this.criticalLock = false;
    this.setStatus('connecting', `waiting for GRBL on ${this.connection.description}`);
    // An owed stop is the first thing on the wire, before the first status poll; its banner
    // is awaited like any reset's (becomeReady waits for it).
    this.linkUp();
    const poll = () => {
      if (this.connection.isConnected) this.connection.writeNow(Buffer.from([REALTIME.status])).catch(() => undefined);
    };
    this.pollTimer = setInterval(poll, this.pollIntervalMs);
    // A controller already running prints no banner: the first status report shows it is there.
    poll();
  }

  /** The session is over (`why`: the link's reason, or a close): its waits end, a reset awaited fails. */
  private endSession(why: string): void {
    if (this.session) this.linkLoss = why;
    this.session?.abort(new WorkcellError('link-dropped', `${this.name}: the link to GRBL dropped (${why})`, { subject: this.name }));
    this.session = undefined;
    this.alive = false;
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    const pending = this.resetPending;
    this.resetPending = undefined;
    // A reset we were waiting for will print no banner on a dead link; the reconnect decides trust.
    pending?.reject(this.linkDropped('before GRBL acknowledged the soft reset'));
  }

  /** A stop sequence that cannot finish because the link went down (`phase`: where it was). */
  private linkDropped(phase: string): WorkcellError {
    return new WorkcellError('stop-failed', `${this.name}: stop failed: the link dropped ${phase} (${this.linkLoss})`, { subject: this.name, operation: 'stop' });
  }
}

/** The `N` of an `error:N` reply, or undefined for `ok`. */
function errorCode(reply: Reply): number | undefined {
  const m = /^error:(\d+)$/.exec(reply.final.trim());
  return m ? Number(m[1]) : undefined;
}
