import { setMaxListeners } from 'node:events';
import { notConnected } from '../connection-health';
import { Device, type DeviceStatus, type OperationContext, type Pausable } from '../../device/device';
import type { OperationSpec } from '../../device/operations';
import { WorkcellError } from '../../errors/workcell-error';
import { IoError } from '../../io/errors';
import type { LineConnection } from '../../io/line-connection';
import { abortable } from '../../scope/cancel-scope';
import { Cancellation, describeError, isCancellation } from '../../scope/reasons';
import { ControllerWatch } from './controller-watch';
import { resolveGantryOptions, type GantrySettings, type GrblGantryOptions } from './gantry-options';
import { splitProgram, type ProgramLine } from './gcode-program';
import { GrblAlarmError, GrblCommandError } from './grbl-errors';
import { GrblLink, formatCoordinate as num, gantryConnection } from './grbl-link';
import { GANTRY_OPERATIONS } from './operations';
import { ParserState } from './parser-state';
import { loadProgram } from './program-source';
import { PROGRAM_WINDOW, streamProgram } from './program-stream';
import { safeCheckOf, unsafeParts, type SafeCheck } from './safe-check';
import { arcExtremes, hasSoftLimits, limitBreach, motionTarget } from './soft-limits';
import { StatusMonitor, type LostReply } from './status-monitor';
import type { Axes3, GrblStatus } from './status-report';
import { ALARM_PAUSE_MS, StopSequence } from './stop-sequence';

/** What a moving operation returns. */
export interface GantryPosition {
  state: string;
  machine: Axes3 | null;
  work: Axes3 | null;
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
 * of a program through GRBL's modal state, arcs over their whole extent), and again when the
 * operation gets its turn with the position read fresh. `error:N` and `ALARM:N` become errors
 * with GRBL's meaning.
 *
 * Stopping: see `sendStop` (emergency stop, `stopBoundMs` = `estopHoldMs` + GRBL's alarm pause) and
 * `onOperationAborted` (a cancelled step); `pause`/`resume` (a cell hold) never write once a
 * stop has begun. After a soft reset GRBL flushes its buffers and prints the banner again; the
 * driver discards the replies still owed and lets no line out before the banner. After a hard or
 * soft limit GRBL waits for a reset: it gets one when it asks (see `StopSequence.criticalAlarm`),
 * and every operation, `safe` and `reset` give it one first if it is still waiting.
 *
 * Liveness: a reply lost on the wire fails the step once GRBL shows nothing left to run (see
 * `StatusMonitor.watchReplies` and `replyLost`), instead of stalling it forever.
 *
 * Status: the detail shows GRBL's state; `lockout` names what keeps a connected machine from
 * moving (its alarm lock, an untrusted position), which the node status shows instead of ready.
 *
 * Events besides the Device ones: `'warning'` (string) for lines that are neither replies nor
 * anything GRBL pushes (garbled on the wire), and for alarms outside an operation.
 */
export class GrblGantry extends Device implements Pausable {
  readonly kind = 'gantry';
  readonly operations = GANTRY_OPERATIONS;
  readonly connection: LineConnection;
  /** The connection cut into sessions, and what GRBL pushes. */
  private readonly link: GrblLink;
  /** The options with their defaults (see `resolveGantryOptions`). */
  readonly settings: GantrySettings;

  /** GRBL's status reports: the last one, the work offset, the poll. */
  private readonly monitor: StatusMonitor;
  /** The stop sequence under way and the soft reset awaited. */
  private readonly stops: StopSequence;
  /** GRBL's modal state and offsets, for the soft-limit check of programs. */
  private readonly parser = new ParserState();
  /** What GRBL says, session by session: alarms, locks, restarts; health and trust from them. */
  private readonly watch: ControllerWatch;
  /** Aborted with a GRBL error (an alarm, an unexpected reset) to fail the operation in progress. */
  private opAbort: AbortController | undefined;
  private currentOp: string | undefined;
  private closed = false;
  private readonly programs = new WeakMap<object, ProgramLine[]>();
  /** What the last `safe()` found. */
  lastSafeCheck: SafeCheck | undefined;

  /** Validates the options (a RangeError or EndpointError names the bad one); connects on `open()`. */
  constructor(options: GrblGantryOptions) {
    super({ name: options.name, ownership: options.ownership, critical: options.critical });
    this.settings = resolveGantryOptions(options);
    this.connection = options.connection ?? gantryConnection(options.address ?? '', options);
    this.link = new GrblLink(this.connection, this.name);
    this.monitor = new StatusMonitor(this.connection, this.name, this.settings.pollIntervalMs);
    const device = this;
    this.stops = new StopSequence({
      name: this.name,
      link: this.connection,
      monitor: this.monitor,
      session: () => device.link.session,
      linkDropped: (phase) => device.link.linkDropped(phase),
      stopsBegun: () => device.stopCount,
    });
    this.link.on('health', (h) => this.setStatus(h.status, h.detail));
    this.watch = new ControllerWatch(
      {
        name: this.name,
        get status() {
          return device.status;
        },
        get positionTrusted() {
          return device.positionTrusted;
        },
        allowUnlock: this.settings.allowUnlock,
        setPositionTrusted: (trusted) => this.setPositionTrusted(trusted),
        setStatus: (status, detail) => this.setStatus(status, detail),
        failOperation: (error) => {
          if (!this.currentOp || !this.opAbort) return false;
          this.opAbort.abort(error(this.currentOp));
          return true;
        },
        warn: (text) => this.emit('warning', text),
        telemetry: (readings) => this.telemetry(readings),
        linkUp: () => this.linkUp(),
        readParserState: (signal) => this.readParserState(signal),
      },
      this.link,
      this.monitor,
      this.stops,
      this.parser,
    );
  }

  /** The banner's firmware and version (`Grbl 1.1h`), once seen. */
  get firmware(): string | undefined {
    return this.watch.firmware;
  }

  /**
   * What keeps the machine from moving although it is connected, as the words its status shows
   * instead of "ready": GRBL's alarm lock (`alarm — home with $H`, see the status detail), or
   * `not homed — home with $H` while the position is untrusted; null when it can move.
   */
  get lockout(): string | null {
    if (this.monitor.last?.state === 'Alarm') return this.watch.detail();
    return this.positionTrusted === false ? 'not homed — home with $H' : null;
  }

  /** The last status report, parsed (undefined before the first). */
  get lastStatus(): GrblStatus | undefined {
    return this.monitor.last;
  }

  /**
   * The emergency stop lets the feed hold run `estopHoldMs` before its soft reset; a reset in
   * motion then raises ALARM:3, and GRBL pauses `ALARM_PAUSE_MS` before the banner that
   * acknowledges the stop.
   */
  override get stopBoundMs(): number {
    return this.settings.estopHoldMs + ALARM_PAUSE_MS;
  }

  override get stopBoundDetail(): string {
    return `its emergency-stop hold of ${this.settings.estopHoldMs} ms, then GRBL's ${ALARM_PAUSE_MS} ms pause after the alarm before the banner that acknowledges the stop`;
  }

  /** Start connecting (and reconnecting); resolves at once, status follows on `'health'`. */
  async open(): Promise<void> {
    if (this.closed) throw new WorkcellError('closed', `${this.name}: cannot open: the device was closed`, { subject: this.name });
    this.connection.open();
  }

  /** Stop polling and close the connection for good; resolves once the transport is closed. */
  async close(): Promise<void> {
    this.closed = true;
    this.link.end('the device was closed');
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
    // GRBL sends no status reports while homing: only the other operations can be watched.
    const stopWatching = op.name === 'home' ? undefined : this.monitor.watchReplies(() => this.link.oldestOwed(), (lost) => this.replyLost(op.name, lost));
    try {
      await this.stops.settle(signal);
      // GRBL waiting for a reset after a hard or soft limit takes nothing else: it gets one first.
      if (this.stops.lockedAfter !== null) await abortable(signal, this.stops.resetLocked(op.name));
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
          return this.describeStatus(await this.monitor.nextStatus(signal));
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
      stopWatching?.();
      if (this.opAbort === opAbort) this.opAbort = undefined;
      this.currentOp = undefined;
    }
  }

  /**
   * A reply lost on the wire (see `StatusMonitor.watchReplies`): the operation fails naming the
   * line still owed it ("Mill: program failed: the reply to line 201 "G1X-101Y-10" never came:
   * GRBL has been idle with nothing left to run for 2000 ms (an ok lost on the wire); the step is
   * not confirmed"), and the link stops waiting for replies GRBL no longer owes, so the next
   * line's reply is matched to it. Nothing is stopped: the machine is at rest.
   */
  private replyLost(operation: string, { owed, boundMs }: LostReply): void {
    const error = new WorkcellError('reply-lost', `${this.name}: ${operation} failed: the reply to ${owed.label} never came: GRBL has been idle with nothing left to run for ${boundMs} ms (an ok lost on the wire); the step is not confirmed`, {
      subject: this.name,
      operation,
      value: owed.label,
    });
    this.opAbort?.abort(error);
    // A program may have changed modes and offsets: read them again before the next one.
    this.parser.forget();
    this.connection.discardPendingReplies('GRBL owes no more replies: one was lost on the wire');
  }

  /**
   * Refuses, before anything is sent: a move or jog without axes, a G1 move or a jog without a
   * feed, targets outside the soft limits (absolute ones through the work offset, relative ones
   * from the tracked position), a program that cannot be read or split, any motion of it outside
   * the soft limits (followed through GRBL's modal state; an arc, G2/G3 in any plane, over its
   * whole extent, not only its end point), spindle on without a speed, and unlock when the
   * device does not allow it.
   */
  protected override checkLimits(op: OperationSpec, params: Record<string, unknown>): void {
    const refuse = (why: string, value?: unknown) =>
      new WorkcellError('invalid-command', `${this.name}: ${op.name} refused: ${why}; nothing was sent`, { subject: this.name, operation: op.name, value });
    switch (op.name) {
      case 'move':
      case 'jog': {
        if (params.x === undefined && params.y === undefined && params.z === undefined) throw refuse('no axis given (x, y or z)');
        if (op.name === 'move' && params.rapid !== true && params.feed === undefined) throw refuse('a G1 move needs a feed rate (feed, mm/min), or set rapid for G0');
        const target = motionTarget(params, this.monitor.last?.machine, this.monitor.wco);
        if (target) this.checkTarget(op, target, 'target');
        return;
      }
      case 'program': {
        const lines = loadProgram(this.settings.programDir, params, refuse);
        this.programs.set(params, lines);
        if (this.monitor.last?.machine && this.parser.known) this.checkProgram(op, lines, this.monitor.last.machine);
        return;
      }
      case 'spindle':
        if (params.on === true && params.speed === undefined) throw refuse('switching the spindle on needs a speed (speed, rpm)');
        return;
      case 'unlock':
        if (!this.settings.allowUnlock) {
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
    return this.stops.haltAndReset(this.settings.estopHoldMs, this.isJogging());
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
        this.track(this.stops.cancelJog(this.settings.cancelHoldMs));
        return;
      case 'home':
        this.track(this.stops.haltAndReset(0, false));
        return;
      case 'move':
      case 'program':
      case 'spindle':
        this.track(this.stops.haltAndReset(this.settings.cancelHoldMs, false));
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
   * stopped first; GRBL waiting for a reset after a hard or soft limit gets it first (see
   * `StopSequence.resetLocked`), and when it takes none, safe fails saying so ("Mill: safe
   * failed: GRBL is waiting for a reset after ALARM:2 (soft limit) and took none of …"). Fails
   * when the check finds anything still on.
   */
  async safe(signal: AbortSignal): Promise<void> {
    await this.queue.run('safe', signal, async (s) => {
      if (!this.connection.isConnected) await this.connection.waitConnected(s);
      await this.stops.settle(s);
      if (this.stops.lockedAfter !== null) await abortable(s, this.stops.resetLocked('safe'));
      let status = await this.monitor.nextStatus(s);
      if (['Run', 'Jog', 'Hold', 'Door', 'Home'].includes(status.state)) {
        await this.stops.haltAndReset(status.state === 'Hold' || status.state === 'Door' ? 0 : this.settings.cancelHoldMs, status.state === 'Jog');
        status = await this.monitor.nextStatus(s);
      }
      const sent: string[] = [];
      if (status.state !== 'Alarm' && status.state !== 'Sleep') {
        if (this.settings.safeState.spindleOff) sent.push('M5');
        if (this.settings.safeState.coolantOff) sent.push('M9');
        for (const line of sent) await this.command('safe', line, s);
      }
      // The accessory field comes with the overrides, at most every few reports.
      let checked = status;
      for (let i = 0; i < 40 && !checked.accessories; i++) checked = await this.monitor.nextStatus(s);
      const check = safeCheckOf(checked, sent);
      this.lastSafeCheck = check;
      const still = unsafeParts(check, this.settings.safeState, checked.accessories !== undefined);
      if (still.length) throw new WorkcellError('safe-failed', `${this.name}: safe state not reached: ${still.join('; ')}`, { subject: this.name, operation: 'safe', value: check });
    });
  }

  /**
   * Cell reset after an emergency stop: a GRBL waiting for a reset after a hard or soft limit
   * gets one (failing as `StopSequence.resetLocked` does when it takes none); an alarm lock is cleared with `$X` only when the device allows unlocking, otherwise it is
   * left and the status says that homing is required. Either way the position stays untrusted
   * until `home`. The fault is cleared (a reset cannot open GRBL's lock without the device's leave).
   */
  override async reset(signal: AbortSignal): Promise<void> {
    if (!this.connection.isConnected) await this.connection.waitConnected(signal);
    await this.queue.run('reset', signal, async (s) => {
      await this.stops.settle(s);
      if (this.stops.lockedAfter !== null) await abortable(s, this.stops.resetLocked('reset'));
      const status = await this.monitor.nextStatus(s);
      this.watch.faultCleared();
      if (status.state === 'Alarm' && this.settings.allowUnlock) {
        await this.command('reset', '$X', s, true);
        this.watch.alarmCleared();
      }
      this.watch.refreshHealth(true);
    });
  }

  /** The safety door is open (`Door:` state or the `D` input pin): a reset cannot clear that. */
  override activeFault(): string | null {
    const s = this.monitor.last;
    if (s && (s.state === 'Door' || s.pins.includes('D'))) return `safety door open (${s.stateText})`;
    return null;
  }

  /** Cell hold: feed hold; see `StopSequence.pause`. */
  pause(signal: AbortSignal): Promise<void> {
    return this.stops.pause(signal);
  }

  /** Cell resume: cycle start once the hold is complete, never once a stop has begun; see `StopSequence.resume`. */
  resume(signal: AbortSignal): Promise<void> {
    return this.stops.resume(signal);
  }

  /** Shows GRBL's state while ready (the base class clears the detail after each operation). */
  protected override setStatus(status: DeviceStatus, detail = '', fault?: string | null): void {
    const shown = (status === 'ready' || status === 'fault') && detail === '' ? this.watch.detail() : detail;
    if (fault === undefined) super.setStatus(status, shown);
    else super.setStatus(status, shown, fault);
  }

  // ----- operations -----

  private async home(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<GantryPosition> {
    await this.command(op.name, '$H', signal, true, params.timeoutMs as number);
    this.watch.alarmCleared();
    this.setPositionTrusted(true);
    const status = await this.monitor.nextStatus(signal);
    this.watch.refreshHealth();
    return this.position(status);
  }

  private async move(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<GantryPosition> {
    const start = await this.positionForLimits(params, signal);
    const target = motionTarget(params, start.machine, this.monitor.wco);
    if (target) this.checkTarget(op, target, 'target');
    const relative = params.mode === 'relative';
    const words = this.axisWords(params);
    const motion = params.rapid === true ? 'G0' : `G1`;
    const feed = params.rapid === true || params.feed === undefined ? '' : ` F${num(params.feed as number)}`;
    const frame = relative ? 'G91' : params.coordinates === 'machine' ? 'G90 G53' : 'G90';
    await this.command(op.name, `G21 ${frame} ${motion} ${words}${feed}`, signal);
    if (relative) await this.command(op.name, 'G90', signal);
    this.parser.afterMove(params.rapid === true);
    // G4 P0 is answered once the planner has run dry: the motion has ended.
    await this.command(op.name, 'G4 P0', signal, false, Infinity);
    return this.position(await this.monitor.nextStatus(signal));
  }

  private async jog(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<GantryPosition> {
    const start = await this.positionForLimits(params, signal);
    const target = motionTarget(params, start.machine, this.monitor.wco);
    if (target) this.checkTarget(op, target, 'target');
    const frame = params.mode === 'absolute' ? (params.coordinates === 'machine' ? 'G53' : 'G90') : 'G91';
    await this.command(op.name, `$J=G21 ${frame} ${this.axisWords(params)} F${num(params.feed as number)}`, signal);
    // GRBL starts a jog before it answers: it is over when the state leaves Jog.
    const end = await this.monitor.waitFor((s) => s.state !== 'Jog', Infinity, signal);
    if (end.state === 'Alarm') throw new GrblAlarmError(this.name, op.name, this.watch.alarmCode ?? 0);
    return this.position(end);
  }

  private async program(op: OperationSpec, params: Record<string, unknown>, signal: AbortSignal, ctx: OperationContext): Promise<unknown> {
    const lines = this.programs.get(params) ?? splitProgram(String(params.gcode ?? ''));
    const start = await this.monitor.nextStatus(signal);
    if (!this.parser.known) await this.readParserState(signal);
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
    try {
      await streamProgram(lines, { link: this.link, device: this.name, operation: op.name, signal, onAcked: (n) => ((acked = n), progress()) });
    } catch (err) {
      if (!(err instanceof GrblCommandError)) throw err;
      // Lines already in GRBL's buffer would still run: hold, and reset once at rest.
      await this.stops.haltAndReset(this.settings.cancelHoldMs, false);
      throw err;
    }
    await this.command(op.name, 'G4 P0', signal, false, Infinity);
    progress(true);
    // A program may change modes and offsets (G20, G91, G10, G92): read them again.
    await this.readParserState(signal).catch(() => undefined);
    return { lines: total, ...this.position(await this.monitor.nextStatus(signal)) };
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
    this.watch.alarmCleared();
    const status = await this.monitor.nextStatus(signal);
    this.watch.refreshHealth();
    return { state: status.stateText, positionTrusted: this.positionTrusted !== false };
  }

  // ----- limits -----

  /**
   * A fresh status report with what the soft-limit check needs: the machine position and, for
   * absolute work-coordinate targets, the work offset (GRBL prints `WCO:` only every few reports).
   */
  private async positionForLimits(params: Record<string, unknown>, signal: AbortSignal): Promise<GrblStatus> {
    let status = await this.monitor.nextStatus(signal);
    const needsWco = params.mode !== 'relative' && params.coordinates !== 'machine';
    const limited = hasSoftLimits(this.settings.softLimits);
    for (let i = 0; limited && (!status.machine || (needsWco && !this.monitor.wco)); i++) {
      if (i >= 40) throw new WorkcellError('no-position', `${this.name}: cannot check the soft limits: GRBL's status reports do not show the ${status.machine ? 'work offset (WCO)' : 'machine position'}; nothing was sent`, { subject: this.name });
      status = await this.monitor.nextStatus(signal);
    }
    return status;
  }

  private checkTarget(op: OperationSpec, target: Axes3, what: string): void {
    const breach = limitBreach(this.settings.softLimits, target);
    if (breach) {
      const { axis, value, limit } = breach;
      throw this.limitError(op, `the ${axis.toUpperCase()} ${what} (machine coordinates)`, value, `${limit.min} to ${limit.max} mm`);
    }
  }

  private checkProgram(op: OperationSpec, lines: readonly ProgramLine[], start: Axes3): void {
    if (!hasSoftLimits(this.settings.softLimits)) return;
    for (const motion of this.parser.plan(lines, start)) {
      const where = `line ${motion.line.source} ${JSON.stringify(motion.line.text)}`;
      // An arc sweeps beyond its end points: its extent along each axis, in the order reached.
      for (const extreme of (motion.arc && arcExtremes(motion.arc)) ?? []) this.checkTarget(op, extreme.point, `extent of the arc of ${where}`);
      this.checkTarget(op, motion.target, `target of ${where}`);
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
    return this.currentOp === 'jog' || this.monitor.last?.state === 'Jog';
  }

  /** Keep the stop sequence as what the next operation waits for; its failure is reported, not thrown. */
  private track(p: Promise<void>): void {
    p.catch((err: unknown) => this.emit('warning', `${this.name}: stopping did not complete: ${describeError(err)}`));
  }

  // ----- talking to GRBL -----

  /** Sends one line and resolves on `ok`; `error:N` throws a GrblCommandError. `$` commands go alone (exclusive). */
  private command(operation: string, line: string, signal: AbortSignal, exclusive = false, timeoutMs = this.settings.replyTimeoutMs): Promise<void> {
    return this.link.command(operation, line, signal, exclusive, timeoutMs);
  }

  /** `$G` and `$#`: the modal state and offsets a program starts from. */
  private readParserState(signal: AbortSignal): Promise<void> {
    return this.parser.read(this.connection, signal, this.settings.replyTimeoutMs);
  }

  private describeStatus(s: GrblStatus): unknown {
    return {
      state: s.stateText,
      machine: s.machine ?? null,
      work: s.work ?? null,
      feed: s.feed ?? null,
      spindle: s.spindle ?? null,
      positionTrusted: this.positionTrusted !== false,
      alarm: s.state === 'Alarm' ? this.watch.alarmCode : null,
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
}
