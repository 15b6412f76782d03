/**
 * A GRBL 1.1h firmware simulator that speaks the real serial protocol over any Node Duplex
 * stream (a TCP socket, a serial port on a pseudo-terminal, a PassThrough pair).
 *
 * ## Timing model
 * - Wire: every byte, in both directions, takes 10/baudRate s to cross the modelled wire
 *   (8N1 framing); bytes queue behind each other. `baudRate: 0` removes the wire delay.
 * - Receive: bytes land in an RX ring of `rxBufferSize` bytes when they finish crossing the
 *   wire. Real-time bytes are picked off before the ring and act at once. Bytes that arrive
 *   while the ring is full are dropped and counted in `overflows`, as on the AVR.
 * - Parser: one line at a time is taken out of the ring (freeing its bytes), parsed for
 *   `parseTimeMs` of real time, and executed. A motion line waits for a free planner block;
 *   spindle, coolant, dwell, WCO and EEPROM changes first wait for the planner to drain
 *   (GRBL's buffer syncs). `ok` is sent when the line has been executed/planned, not when its
 *   motion ends. While the machine is held (Hold, Door, Sleep) no line is parsed.
 * - Motion: blocks run at constant velocity (programmed feed × override, capped per axis by the
 *   max rates; G0 at the max rate × rapid override), block after block. Stops (feed hold, jog
 *   cancel, safety door, soft-limit hold) decelerate at `acceleration`. Motion, dwell, homing
 *   and deceleration run `timeScale`× faster than real time; wire and parse times never scale.
 * - Cycle start is automatic when the RX ring holds no further complete line, when the planner
 *   is full, or when a line must wait for the planner to drain — as protocol_auto_cycle_start().
 *
 * ## Not modelled
 * Arcs (G2/G3) and probing (G38.x) answer `error:20`; acceleration planning between blocks;
 * hard limits and limit switches; laser mode; parking; the TX ring's back-pressure; EEPROM write
 * time; line numbers in reports. `$N` startup lines run after `ok` of `$H` rather than before.
 * `!` during homing is ignored. The safety door has no physical pin unless `setDoorOpen()` is used.
 *
 * ## Modelled firmware quirks
 * CR and LF each end a line (`G0X1\r\n` gets two `ok`s); `~` while `Hold:1` is ignored; after a
 * soft reset a line that was waiting inside the parser still gets its `ok` before the banner;
 * `ALARM:N` is followed by a 500 ms pause (`alarmDelayMs`); status requests get no answer
 * during homing (answered after) or a soft-limit critical alarm.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import {
  AlarmCode,
  ErrorCode,
  HELP_LINE,
  Message,
  Override,
  Realtime,
  VERSION_BUILD,
  realtimeName,
} from './codes';
import {
  Axes,
  CoordData,
  GcAction,
  GcState,
  ParsedBlock,
  emptyCoordData,
  filterLine,
  formatGcodeModes,
  initialGcState,
  parseBlock,
  programEndState,
  readFloat,
} from './gcode-parser';
import { PlannerBlock, Segment, blockRate, distanceAt, makeBlock, pointAt, segmentEnd, speedAt } from './motion';
import { GrblSimulatorOptions, ResolvedGrblOptions, Vec3, resolveOptions } from './options';
import { GrblSettings } from './settings';
import { StatusReporter, formatCoord } from './status-report';

/** Internal machine state (sys.state of the firmware). */
export type GrblMachineState = 'Idle' | 'Run' | 'Hold' | 'Jog' | 'Alarm' | 'Door' | 'Check' | 'Home' | 'Sleep';

/** One real-time byte as received, for tests that check what a driver sent and when. */
export interface RealtimeRecord {
  byte: number;
  name: string;
  /** Wall-clock time (ms since epoch, fractional) at which the byte finished crossing the wire. */
  at: number;
}

/** Information passed with 'motion-start' and 'motion-end'. */
export interface MotionEvent {
  from: Vec3;
  to: Vec3;
  kind: PlannerBlock['kind'];
  line: string | null;
}

/** Physical spindle state. */
export interface SpindleState {
  on: boolean;
  cw: boolean;
  /** Actual speed in rpm (programmed S × override, clamped to $30/$31). 0 when off. */
  speed: number;
}

type DoorPhase = 'retracting' | 'ready' | 'restoring';

interface Job {
  raw: string;
  text: string;
  overflow: boolean;
  startup: boolean;
  stage: 'parsing' | 'exec';
  readyAt: number;
  actions: Array<GcAction | { type: 'home' }>;
  index: number;
  parsed: ParsedBlock | null;
  waitUntil: number | null;
  pauseStarted: boolean;
  softLimitStop: boolean;
  lastBlock: PlannerBlock | null;
  afterOk: (() => void) | null;
}

const toVec = (a: Axes): Vec3 => ({ x: a[0], y: a[1], z: a[2] });

/**
 * The simulated controller. Construct it, then either `attach(stream)` a client or `listen()`
 * on TCP. Inspection getters read the state at the current instant.
 *
 * Events: `'attach'` (a client was attached, before the power cycle `resetOnAttach` makes),
 * `'received'` (a Buffer: bytes from the client as they arrive, before the modelled wire delay,
 * real-time bytes and lines alike: what a driver wrote, in order), `'realtime'` (a real-time
 * byte acted on), `'line'` (a line taken out of the receive buffer), `'state'` (state text,
 * previous), `'alarm'` (code), `'reset'`, `'motion-start'` and `'motion-end'` (MotionEvent),
 * `'overflow'` (count).
 */
export class GrblSimulator extends EventEmitter {
  /** Options with defaults applied. */
  readonly options: ResolvedGrblOptions;
  /** Bytes dropped because they arrived while the RX ring was full. */
  overflows = 0;
  /** Lines whose motion completed, or that were executed when they have no motion. */
  readonly executedLines: string[] = [];
  /** Every real-time byte received, in order. */
  readonly receivedRealtime: RealtimeRecord[] = [];
  /** Input pins to show in `Pn:` besides the door (e.g. 'P' or 'XZ'); test hook. */
  inputPins = '';

  private readonly settings: GrblSettings;
  private coordData: CoordData = emptyCoordData();
  private startupLines: [string, string] = ['', ''];
  private buildInfo = '';
  private gc: GcState;
  private sys: GrblMachineState;
  private holdComplete = false;
  private jogCancel = false;
  private stopReason: 'hold' | 'jog' | 'door' | 'softlimit' | null = null;
  private doorPhase: DoorPhase | null = null;
  private doorAjar = false;
  private doorRestoreAt: number | null = null;
  private doorAfterJog = false;
  private critical = false;
  private reinitAt: number | null = null;
  private pendingStatus = false;
  private alarmCode: number | null = null;
  private homedFlag = false;
  private trusted: boolean;

  private pos: Axes = [0, 0, 0];
  private plannerPos: Axes = [0, 0, 0];
  private planner: PlannerBlock[] = [];
  private seg: Segment | null = null;
  private overrides = { feed: 100, rapid: 100, spindle: 100 };
  private spindleDir: 'cw' | 'ccw' | null = null;
  private spindleRpm = 0;
  private flood = false;
  private mist = false;
  private readonly reporter = new StatusReporter();

  private clock = 0;
  private inflight: Array<{ at: number; byte: number }> = [];
  private inflightHead = 0;
  private rxWireFreeAt = 0;
  private rx: number[] = [];
  private job: Job | null = null;
  private startupQueue: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private processing = false;
  private rerun = false;
  private lastStateText = '';

  private stream: Duplex | null = null;
  private detachCurrent: (() => void) | null = null;
  private txQueue: Array<{ at: number; data: Buffer }> = [];
  private txFreeAt = 0;
  private txTimer: NodeJS.Timeout | null = null;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  /** Creates a powered-up controller with no client attached. */
  constructor(options: GrblSimulatorOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.settings = new GrblSettings(this.options);
    this.sys = this.options.startLocked ? 'Alarm' : 'Idle';
    this.trusted = !this.options.homingEnabled;
    this.gc = initialGcState(this.coordData, this.pos);
    this.clock = performance.now();
    this.lastStateText = this.stateText();
  }

  // ------------------------------------------------------------------ public inspection

  /** Status-report state text: Idle, Run, Hold:0|1, Jog, Alarm, Door:0..3, Check, Home, Sleep. */
  get state(): string {
    this.sync();
    return this.stateText();
  }
  /** Machine position (interpolated during motion), mm. */
  get machinePosition(): Vec3 {
    this.sync();
    return toVec(this.currentPosition(this.clock));
  }
  /** Work coordinate offset (G54..G59 + G92 + tool length offset on Z), mm. */
  get workOffset(): Vec3 {
    return toVec(this.wco());
  }
  /** Real-time feed rate, mm/min (0 when not moving). */
  get feedRate(): number {
    this.sync();
    return this.realtimeRate(this.clock);
  }
  /** Physical spindle state. */
  get spindle(): SpindleState {
    return { on: this.spindleDir !== null, cw: this.spindleDir !== 'ccw', speed: this.actualSpindleRpm() };
  }
  /** Physical coolant outputs. */
  get coolant(): { flood: boolean; mist: boolean } {
    return { flood: this.flood, mist: this.mist };
  }
  /** Code of the ALARM that put the machine in Alarm, or null (also null for the power-up lock). */
  get alarm(): number | null {
    return this.sys === 'Alarm' ? this.alarmCode : null;
  }
  /** True after a successful `$H` until the position is lost again (ALARM:3/6, power cycle). */
  get homed(): boolean {
    return this.homedFlag;
  }
  /** Whether the machine position is known: homed, or homing disabled and never lost. */
  get positionTrusted(): boolean {
    return this.trusted;
  }
  /** Bytes currently waiting in the RX ring. */
  get rxBufferUsed(): number {
    this.sync();
    return this.rx.length;
  }
  /** Planner blocks in use (including the one executing). */
  get plannerUsed(): number {
    this.sync();
    return this.planner.length;
  }
  /** Feed, rapid and spindle overrides in percent. */
  get overrideValues(): { feed: number; rapid: number; spindle: number } {
    return { ...this.overrides };
  }
  /** A copy of the G-code parser state (modal groups, feed, offsets). */
  get parserState(): GcState {
    return structuredClone(this.gc);
  }
  /** The settings table as `$$` prints it. */
  get settingLines(): string[] {
    return this.settings.report();
  }

  // ------------------------------------------------------------------ public control

  /**
   * Starts talking to one client. A previous client is detached first. With `resetOnAttach`
   * (default), attaching power-cycles the controller, as opening the serial port of an
   * Arduino-based GRBL does (DTR resets the board): position zero, Alarm if homing is enabled,
   * banner printed. Otherwise the banner is not repeated and the machine keeps its state.
   * @returns a function that detaches this client (the stream is left open).
   */
  attach(stream: Duplex): () => void {
    this.detachCurrent?.();
    this.stream = stream;
    const onData = (chunk: Buffer | string): void => this.onData(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    const onEnd = (): void => detach();
    const onError = (): void => detach();
    const detach = (): void => {
      if (this.stream !== stream) return;
      stream.off('data', onData);
      stream.off('close', onEnd);
      stream.off('end', onEnd);
      stream.off('error', onError);
      this.stream = null;
      this.detachCurrent = null;
      this.txQueue = [];
      this.inflight = [];
      this.inflightHead = 0;
    };
    stream.on('data', onData);
    stream.on('close', onEnd);
    stream.on('end', onEnd);
    stream.on('error', onError);
    this.detachCurrent = detach;
    this.emit('attach');
    if (this.options.resetOnAttach) this.powerCycle();
    return detach;
  }

  /**
   * Serves the controller on TCP like a ser2net bridge; each accepted connection is attached
   * and replaces (destroys) the previous one.
   */
  async listen(opts: { host?: string; port?: number } = {}): Promise<{ host: string; port: number }> {
    if (this.server) throw new Error('The simulator is already listening; call close() first.');
    const host = opts.host ?? '127.0.0.1';
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      for (const old of this.sockets) old.destroy();
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      this.attach(socket);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as net.AddressInfo;
    return { host, port: address.port };
  }

  /** Destroys every connected TCP client abruptly (the controller keeps running). */
  dropClients(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Stops the TCP server, disconnects clients and stops all timers. */
  async close(): Promise<void> {
    this.dropClients();
    this.detachCurrent?.();
    if (this.timer) clearTimeout(this.timer);
    if (this.txTimer) clearTimeout(this.txTimer);
    this.timer = this.txTimer = null;
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Acts as if 0x18 arrived now (ALARM:3 when in motion, flush, banner). */
  softReset(): void {
    this.sync();
    this.atomically(() => this.doSoftReset());
  }

  /** Restarts the firmware as a power cycle or board reset: position lost, banner. */
  powerCycle(): void {
    this.sync();
    this.atomically(() => {
      this.seg = null;
      this.planner = [];
      this.job = null;
      this.pos = [0, 0, 0];
      this.sys = this.options.startLocked ? 'Alarm' : 'Idle';
      this.alarmCode = null;
      this.homedFlag = false;
      this.trusted = !this.settings.homingEnabled;
      this.critical = false;
      this.txQueue = [];
      this.txFreeAt = this.clock;
      this.inflight = [];
      this.inflightHead = 0;
      this.reinit();
    });
  }

  /** Simulates the safety-door input: opening acts like 0x84; the door must close to resume. */
  setDoorOpen(open: boolean): void {
    this.sync();
    this.atomically(() => {
      this.doorAjar = open;
      if (open) this.safetyDoor();
    });
  }

  // ------------------------------------------------------------------ event loop

  /** Processes everything due up to the current real time. */
  private sync(): void {
    if (this.processing) return;
    this.run();
  }

  private atomically(fn: () => void): void {
    if (this.processing) {
      fn();
      return;
    }
    this.processing = true;
    try {
      fn();
      this.progress();
      this.noteState();
    } finally {
      this.processing = false;
    }
    this.run();
  }

  private run(): void {
    if (this.processing) {
      this.rerun = true;
      return;
    }
    this.processing = true;
    try {
      do {
        this.rerun = false;
        const now = performance.now();
        for (let guard = 0; guard < 1_000_000; guard++) {
          const next = this.nextEventAt();
          if (next > now) break;
          this.clock = Math.max(this.clock, next);
          this.processDue();
          this.progress();
          this.noteState();
        }
        this.clock = Math.max(this.clock, now);
        this.progress();
        this.noteState();
      } while (this.rerun);
    } finally {
      this.processing = false;
    }
    this.scheduleTimer();
  }

  private scheduleTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const next = this.nextEventAt();
    if (!Number.isFinite(next)) return;
    const delay = Math.max(0, next - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.run();
    }, delay);
    this.timer.unref();
  }

  private nextEventAt(): number {
    let next = Infinity;
    if (this.reinitAt !== null) next = Math.min(next, this.reinitAt);
    if (this.inflightHead < this.inflight.length) next = Math.min(next, this.inflight[this.inflightHead]!.at);
    if (this.seg && this.planner[0]) next = Math.min(next, segmentEnd(this.seg, this.planner[0].length).at);
    if (this.doorRestoreAt !== null) next = Math.min(next, this.doorRestoreAt);
    if (this.job && this.reinitAt === null && !this.critical) {
      if (this.job.stage === 'parsing') next = Math.min(next, this.job.readyAt);
      else if (this.job.waitUntil !== null) next = Math.min(next, this.job.waitUntil);
    }
    return next;
  }

  private processDue(): void {
    const t = this.clock;
    if (this.reinitAt !== null && this.reinitAt <= t) {
      this.reinit();
      return;
    }
    if (this.seg && this.planner[0]) {
      const end = segmentEnd(this.seg, this.planner[0].length);
      if (end.at <= t) {
        this.onSegmentEnd(end.reason, end.at);
        return;
      }
    }
    if (this.doorRestoreAt !== null && this.doorRestoreAt <= t) {
      this.doorRestoreAt = null;
      this.finishDoorRestore();
      return;
    }
    while (this.inflightHead < this.inflight.length && this.inflight[this.inflightHead]!.at <= t) {
      const { byte } = this.inflight[this.inflightHead++]!;
      this.receiveByte(byte);
    }
    if (this.inflightHead > 4096) {
      this.inflight = this.inflight.slice(this.inflightHead);
      this.inflightHead = 0;
    }
  }

  private noteState(): void {
    const text = this.stateText();
    if (text !== this.lastStateText) {
      const previous = this.lastStateText;
      this.lastStateText = text;
      this.emit('state', text, previous);
    }
  }

  // ------------------------------------------------------------------ wire

  private byteMs(): number {
    return this.options.baudRate > 0 ? 10_000 / this.options.baudRate : 0;
  }

  private onData(chunk: Buffer): void {
    this.emit('received', chunk);
    const now = performance.now();
    const byteMs = this.byteMs();
    let at = Math.max(now, this.rxWireFreeAt);
    for (const byte of chunk) {
      at += byteMs;
      this.inflight.push({ at, byte });
    }
    this.rxWireFreeAt = at;
    this.run();
  }

  private sendLine(line: string): void {
    this.write(`${line}\r\n`);
  }

  private write(text: string): void {
    const stream = this.stream;
    if (!stream || stream.destroyed) return; // an unconnected UART sends into the void
    const data = Buffer.from(text, 'latin1');
    const byteMs = this.byteMs();
    const start = Math.max(this.clock, this.txFreeAt);
    if (byteMs === 0 && start <= performance.now() && this.txQueue.length === 0) {
      stream.write(data);
      return;
    }
    this.txFreeAt = start + data.length * byteMs;
    this.txQueue.push({ at: this.txFreeAt, data });
    this.flushTx();
  }

  private flushTx(): void {
    const now = performance.now();
    while (this.txQueue.length > 0 && this.txQueue[0]!.at <= now) {
      const { data } = this.txQueue.shift()!;
      if (this.stream && !this.stream.destroyed) this.stream.write(data);
    }
    if (this.txTimer) clearTimeout(this.txTimer);
    this.txTimer = null;
    if (this.txQueue.length > 0) {
      this.txTimer = setTimeout(() => this.flushTx(), Math.max(0, this.txQueue[0]!.at - now));
      this.txTimer.unref();
    }
  }

  /** Holds back further output, as the firmware's blocking delay after ALARM:N does. */
  private pauseOutput(ms: number): void {
    this.txFreeAt = Math.max(this.txFreeAt, this.clock) + ms;
  }

  private receiveByte(byte: number): void {
    if (this.reinitAt !== null) return; // arrives while the firmware re-initialises: flushed
    if (this.isRealtime(byte)) {
      this.receivedRealtime.push({ byte, name: realtimeName(byte), at: performance.timeOrigin + this.clock });
      this.emit('realtime', byte);
      this.onRealtime(byte);
      return;
    }
    if (byte > 0x7f) return; // unknown extended byte: thrown away, never buffered
    if (this.rx.length >= this.options.rxBufferSize) {
      this.overflows++;
      this.emit('overflow', this.overflows);
      return;
    }
    this.rx.push(byte);
  }

  private isRealtime(byte: number): boolean {
    return byte === Realtime.Reset || byte === Realtime.StatusReport || byte === Realtime.CycleStart ||
      byte === Realtime.FeedHold || byte > 0x7f;
  }

  // ------------------------------------------------------------------ real-time commands

  private onRealtime(byte: number): void {
    switch (byte) {
      case Realtime.Reset:
        this.doSoftReset();
        return;
      case Realtime.StatusReport:
        if (this.critical) return;
        if (this.sys === 'Home') this.pendingStatus = true;
        else this.sendLine(this.statusReport());
        return;
      case Realtime.CycleStart:
        this.cycleStart();
        return;
      case Realtime.FeedHold:
        this.feedHold();
        return;
      case Realtime.SafetyDoor:
        this.safetyDoor();
        return;
      case Realtime.JogCancel:
        if (this.sys === 'Jog') this.cancelJog();
        return;
      case Realtime.CoolantFloodToggle:
      case Realtime.CoolantMistToggle:
        if (['Idle', 'Run', 'Hold', 'Jog'].includes(this.sys)) {
          const modal = this.gc.modal;
          if (byte === Realtime.CoolantFloodToggle) modal.flood = !modal.flood;
          else modal.mist = !modal.mist;
          this.flood = modal.flood;
          this.mist = modal.mist;
          this.reporter.refreshOverrides();
        }
        return;
      case Realtime.SpindleOvrStop:
        if (this.sys === 'Hold' && this.holdComplete) {
          this.spindleDir = this.spindleDir ? null : this.gc.modal.spindle === 'off' ? null : this.gc.modal.spindle;
          this.reporter.refreshOverrides();
        }
        return;
      default:
        this.applyOverride(byte);
    }
  }

  private applyOverride(byte: number): void {
    const o = { ...this.overrides };
    const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
    switch (byte) {
      case Realtime.FeedOvrReset: o.feed = 100; break;
      case Realtime.FeedOvrCoarsePlus: o.feed += Override.coarse; break;
      case Realtime.FeedOvrCoarseMinus: o.feed -= Override.coarse; break;
      case Realtime.FeedOvrFinePlus: o.feed += Override.fine; break;
      case Realtime.FeedOvrFineMinus: o.feed -= Override.fine; break;
      case Realtime.RapidOvrReset: o.rapid = 100; break;
      case Realtime.RapidOvrMedium: o.rapid = Override.rapidMedium; break;
      case Realtime.RapidOvrLow: o.rapid = Override.rapidLow; break;
      case Realtime.SpindleOvrReset: o.spindle = 100; break;
      case Realtime.SpindleOvrCoarsePlus: o.spindle += Override.coarse; break;
      case Realtime.SpindleOvrCoarseMinus: o.spindle -= Override.coarse; break;
      case Realtime.SpindleOvrFinePlus: o.spindle += Override.fine; break;
      case Realtime.SpindleOvrFineMinus: o.spindle -= Override.fine; break;
      default: return; // other extended bytes are thrown away
    }
    o.feed = clamp(o.feed, Override.feedMin, Override.feedMax);
    o.spindle = clamp(o.spindle, Override.spindleMin, Override.spindleMax);
    if (o.feed === this.overrides.feed && o.rapid === this.overrides.rapid && o.spindle === this.overrides.spindle) return;
    this.overrides = o;
    this.reporter.refreshOverrides();
    // A cruising block changes speed from here on (the planner re-plans at once).
    if (this.seg && this.seg.decel === 0 && this.planner[0]) {
      const s = distanceAt(this.seg, this.clock, this.planner[0].length);
      this.seg = { t0: this.clock, s0: s, v0: this.blockSpeed(this.planner[0]), decel: 0 };
    }
  }

  private cycleStart(): void {
    if (this.sys === 'Door' && this.doorPhase === 'ready' && !this.doorAjar) {
      this.doorPhase = 'restoring';
      const spindleDelay = this.gc.modal.spindle !== 'off' ? 4000 : 0;
      const coolantDelay = this.gc.modal.flood || this.gc.modal.mist ? 1000 : 0;
      this.doorRestoreAt = this.clock + (spindleDelay + coolantDelay) / this.options.timeScale;
      return;
    }
    if (this.sys === 'Idle') {
      this.startCycleIfQueued();
      return;
    }
    if (this.sys === 'Hold' && this.holdComplete) {
      this.holdComplete = false;
      this.sys = 'Idle';
      this.startCycleIfQueued();
    }
    // Hold:1 (still decelerating), Door:2/3, Alarm…: ignored, as the firmware does.
  }

  private feedHold(): void {
    switch (this.sys) {
      case 'Run':
        this.sys = 'Hold';
        this.holdComplete = false;
        this.beginStop('hold');
        return;
      case 'Jog':
        this.cancelJog();
        return;
      case 'Idle':
        this.sys = 'Hold';
        this.holdComplete = true;
        return;
      default:
        return; // Alarm, Check, Hold, Door, Home, Sleep: nothing to hold
    }
  }

  private cancelJog(): void {
    if (this.jogCancel) return;
    this.jogCancel = true;
    this.beginStop('jog');
  }

  private safetyDoor(): void {
    if (this.sys === 'Alarm' || this.sys === 'Check' || this.sys === 'Sleep' || this.sys === 'Home') return;
    this.sendLine(`[MSG:${Message.SafetyDoorAjar}]`);
    switch (this.sys) {
      case 'Jog':
        this.doorAfterJog = true;
        this.cancelJog();
        return;
      case 'Run':
        this.sys = 'Door';
        this.doorPhase = 'retracting';
        this.beginStop('door');
        return;
      case 'Hold':
        this.sys = 'Door';
        if (this.holdComplete) this.doorRetracted();
        else {
          this.doorPhase = 'retracting';
          this.stopReason = 'door';
        }
        return;
      case 'Idle':
        this.sys = 'Door';
        this.doorRetracted();
        return;
      case 'Door':
        if (this.doorPhase === 'restoring') {
          this.doorRestoreAt = null;
          this.doorRetracted();
        }
        return;
      default:
        return;
    }
  }

  private doorRetracted(): void {
    this.doorPhase = 'ready';
    this.holdComplete = true;
    this.spindleDir = null;
    this.flood = this.mist = false;
    this.reporter.refreshOverrides();
  }

  private finishDoorRestore(): void {
    if (this.sys !== 'Door') return;
    this.doorPhase = null;
    this.holdComplete = false;
    this.applySpindle(this.gc.modal.spindle, this.gc.spindleSpeed);
    this.flood = this.gc.modal.flood;
    this.mist = this.gc.modal.mist;
    this.sys = 'Idle';
    this.startCycleIfQueued();
  }

  // ------------------------------------------------------------------ reset

  private doSoftReset(): void {
    if (this.reinitAt !== null) return;
    this.critical = false;
    const moving = this.seg !== null || this.sys === 'Home';
    if (this.seg) this.pos = this.currentPosition(this.clock);
    this.seg = null;
    this.planner = [];
    this.stopReason = null;
    this.spindleDir = null;
    this.flood = this.mist = false;
    this.doorRestoreAt = null;
    if (moving) {
      const code = this.sys === 'Home' ? AlarmCode.HomingFailReset : AlarmCode.AbortCycle;
      this.raiseAlarm(code);
      this.homedFlag = false;
      this.trusted = false;
      this.reinitAt = this.clock + this.options.alarmDelayMs;
    } else {
      this.reinitAt = this.clock;
    }
  }

  private raiseAlarm(code: number): void {
    this.sys = 'Alarm';
    this.alarmCode = code;
    this.sendLine(`ALARM:${code}`);
    this.pauseOutput(this.options.alarmDelayMs);
    this.emit('alarm', code);
  }

  /** The firmware's main() re-initialisation after power-up or a soft reset. */
  private reinit(): void {
    this.reinitAt = null;
    if (this.job) {
      // A line caught inside gc_execute_line() still returns STATUS_OK once the abort unwinds.
      this.sendLine(this.job.startup ? `>${this.job.text}:ok` : 'ok');
      this.job = null;
    }
    this.rx = [];
    this.planner = [];
    this.seg = null;
    this.startupQueue = [];
    this.holdComplete = false;
    this.jogCancel = false;
    this.doorAfterJog = false;
    this.stopReason = null;
    this.doorPhase = null;
    this.critical = false;
    this.pendingStatus = false;
    this.plannerPos = [...this.pos];
    this.gc = initialGcState(this.coordData, this.pos);
    this.overrides = { feed: 100, rapid: 100, spindle: 100 };
    this.spindleDir = null;
    this.flood = this.mist = false;
    this.reporter.refreshAll();
    this.sys = this.sys === 'Alarm' || this.sys === 'Sleep' ? 'Alarm' : 'Idle';
    this.write(`\r\n${this.options.version}\r\n`);
    if (this.sys === 'Alarm') this.sendLine(`[MSG:${Message.AlarmLock}]`);
    else this.queueStartupLines();
    this.emit('reset');
  }

  private queueStartupLines(): void {
    for (const line of this.startupLines) if (line) this.startupQueue.push(line);
  }

  // ------------------------------------------------------------------ motion

  private blockSpeed(block: PlannerBlock): number {
    const maxRate: Axes = [this.settings.maxRate(0), this.settings.maxRate(1), this.settings.maxRate(2)];
    return (blockRate(block, maxRate, this.overrides) / 60_000) * this.options.timeScale;
  }

  private decel(): number {
    return (this.options.acceleration / 1e6) * this.options.timeScale ** 2;
  }

  private currentPosition(t: number): Axes {
    const block = this.planner[0];
    if (this.seg && block) return pointAt(block, distanceAt(this.seg, t, block.length));
    return [...this.pos];
  }

  private realtimeRate(t: number): number {
    if (!this.seg) return 0;
    return (speedAt(this.seg, t) * 60_000) / this.options.timeScale;
  }

  private startCycleIfQueued(): void {
    if (this.sys !== 'Idle' || this.planner.length === 0 || this.seg) return;
    this.sys = this.planner[0]!.kind === 'jog' ? 'Jog' : 'Run';
    this.noteState(); // listeners see Run/Jog before the first 'motion-start'
    this.startBlock(null);
  }

  private startBlock(entrySpeed: number | null): void {
    const block = this.planner[0];
    if (!block) return;
    const stopping = this.stopReason !== null;
    this.seg = {
      t0: this.clock,
      s0: 0,
      v0: entrySpeed ?? this.blockSpeed(block),
      decel: stopping ? this.decel() : 0,
    };
    this.emit('motion-start', this.motionEvent(block));
  }

  private motionEvent(block: PlannerBlock): MotionEvent {
    return { from: toVec(block.start), to: toVec(block.target), kind: block.kind, line: block.line };
  }

  private beginStop(reason: 'hold' | 'jog' | 'door' | 'softlimit'): void {
    this.stopReason = reason;
    const block = this.planner[0];
    if (this.seg && block) {
      const s = distanceAt(this.seg, this.clock, block.length);
      const v = speedAt(this.seg, this.clock);
      this.seg = { t0: this.clock, s0: s, v0: v, decel: this.decel() };
      if (v > 0) return;
    }
    this.onStopped();
  }

  private onSegmentEnd(reason: 'block-end' | 'stopped', at: number): void {
    const block = this.planner[0]!;
    const seg = this.seg!;
    if (reason === 'stopped') {
      this.pos = pointAt(block, distanceAt(seg, at, block.length));
      this.seg = null;
      // plan_cycle_reinitialize(): the rest of the block stays queued for the resume.
      const rest = makeBlock(this.pos, block.target, block.kind, block.feed, block.line);
      if (rest) this.planner[0] = rest;
      else this.completeBlock(block);
      this.onStopped();
      return;
    }
    const exitSpeed = speedAt(seg, at);
    this.pos = [...block.target];
    this.seg = null;
    this.completeBlock(block);
    if (this.planner.length > 0) {
      this.startBlock(this.stopReason ? exitSpeed : null);
      if (this.stopReason && exitSpeed <= 0) {
        this.seg = null;
        this.onStopped();
      }
    } else if (this.stopReason) {
      this.onStopped();
    } else if (this.sys === 'Run' || this.sys === 'Jog') {
      this.sys = 'Idle'; // cycle stop: the planner ran dry
    }
  }

  private completeBlock(block: PlannerBlock): void {
    if (this.planner[0] === block) this.planner.shift();
    this.emit('motion-end', this.motionEvent(block));
    if (block.line !== null) this.executedLines.push(block.line);
  }

  /** Motion has come to rest after a stop request (or there was nothing moving). */
  private onStopped(): void {
    const reason = this.stopReason;
    this.stopReason = null;
    if (reason === 'jog' || this.jogCancel) {
      // Jog cancel flushes every queued jog and re-syncs parser and planner positions.
      this.planner = [];
      this.jogCancel = false;
      this.plannerPos = [...this.pos];
      this.gc.position = [...this.pos];
      if (this.doorAfterJog) {
        this.doorAfterJog = false;
        this.sys = 'Door';
        this.doorRetracted();
      } else this.sys = 'Idle';
      return;
    }
    if (reason === 'softlimit') {
      this.sys = 'Idle';
      return;
    }
    if (this.sys === 'Hold') this.holdComplete = true;
    else if (this.sys === 'Door') this.doorRetracted();
  }

  // ------------------------------------------------------------------ line processing

  private isSuspended(): boolean {
    return this.sys === 'Hold' || this.sys === 'Door' || this.sys === 'Sleep' || this.jogCancel;
  }

  private takeLine(): string | null {
    const end = this.rx.findIndex((b) => b === 0x0a || b === 0x0d);
    if (end < 0) return null;
    const bytes = this.rx.splice(0, end + 1);
    bytes.pop();
    return Buffer.from(bytes).toString('latin1');
  }

  private progress(): void {
    for (let guard = 0; guard < 10_000; guard++) {
      if (this.reinitAt !== null || this.critical) return;
      const job = this.job;
      if (job) {
        if (job.stage === 'parsing') {
          if (this.clock < job.readyAt) return;
          this.startJob(job);
          if (this.job !== job) continue;
        }
        if (!this.stepJob(job)) return;
        this.finishJob(job, 0);
        continue;
      }
      if (this.isSuspended() || this.sys === 'Home') return;
      const startup = this.startupQueue.length > 0;
      const raw = startup ? this.startupQueue.shift()! : this.takeLine();
      if (raw === null) {
        this.startCycleIfQueued();
        return;
      }
      const filtered = filterLine(raw);
      this.job = {
        raw,
        text: filtered.text,
        overflow: filtered.overflow,
        startup,
        stage: 'parsing',
        readyAt: this.clock + this.options.parseTimeMs,
        actions: [],
        index: 0,
        parsed: null,
        waitUntil: null,
        pauseStarted: false,
        softLimitStop: false,
        lastBlock: null,
        afterOk: null,
      };
      if (!startup) this.emit('line', raw);
    }
  }

  private finishJob(job: Job, status: number): void {
    if (this.job !== job) return;
    this.job = null;
    const answer = status === 0 ? 'ok' : `error:${status}`;
    this.sendLine(job.startup ? `>${job.text}:${answer}` : answer);
    const isGcode = job.text !== '' && (!job.text.startsWith('$') || job.text.startsWith('$J='));
    if (status === 0 && isGcode) {
      const last = job.lastBlock;
      if (last && this.planner.includes(last)) last.line = job.raw;
      else this.executedLines.push(job.raw);
    }
    const after = job.afterOk;
    if (after) after();
  }

  /** Parses the line and either answers it at once or sets up its actions. */
  private startJob(job: Job): void {
    job.stage = 'exec';
    if (job.overflow) return this.finishJob(job, ErrorCode.Overflow);
    if (job.text === '') return this.finishJob(job, 0);
    if (job.text.startsWith('$')) {
      const status = this.systemCommand(job);
      if (status !== null) this.finishJob(job, status);
      return;
    }
    if (this.sys === 'Alarm' || this.sys === 'Jog') return this.finishJob(job, ErrorCode.SystemGcLock);
    const parsed = parseBlock(job.text, this.gc, this.coordData);
    if (!parsed.ok) return this.finishJob(job, parsed.code);
    job.parsed = parsed;
    job.actions = parsed.actions;
  }

  /** Runs the job's actions in order. @returns true when all are done. */
  private stepJob(job: Job): boolean {
    while (job.index < job.actions.length) {
      const action = job.actions[job.index]!;
      if (!this.runAction(job, action)) return false;
      job.index++;
    }
    return true;
  }

  private plannerBusy(): boolean {
    return this.planner.length > 0 || this.seg !== null;
  }

  private runAction(job: Job, action: GcAction | { type: 'home' }): boolean {
    const check = this.sys === 'Check';
    switch (action.type) {
      case 'sync':
        if (!this.plannerBusy()) return true;
        this.startCycleIfQueued();
        return false;
      case 'commit': {
        const parsed = job.parsed!;
        if (parsed.jog) this.gc.position = [...parsed.state.position];
        else {
          this.gc = parsed.state;
          this.coordData = parsed.coordData;
        }
        if (parsed.wcoChanged) this.reporter.refreshWco();
        return true;
      }
      case 'spindle':
        if (!check) this.applySpindle(action.spindle, action.speed);
        return true;
      case 'coolant':
        if (!check) {
          this.mist = action.mist;
          this.flood = action.flood;
          this.reporter.refreshOverrides();
        }
        return true;
      case 'dwell':
        if (check) return true;
        if (job.waitUntil === null) job.waitUntil = this.clock + (action.seconds * 1000) / this.options.timeScale;
        if (this.clock < job.waitUntil) return false;
        job.waitUntil = null;
        return true;
      case 'line':
        return this.planLine(job, action.target, action.kind, action.feed);
      case 'pause':
        if (check) return true;
        if (!job.pauseStarted) {
          job.pauseStarted = true;
          this.sys = 'Hold';
          this.holdComplete = true;
          return false;
        }
        return !this.isSuspended();
      case 'programEnd':
        this.gc = programEndState(this.gc, this.coordData);
        this.overrides = { feed: 100, rapid: 100, spindle: 100 };
        if (!check) {
          this.reporter.refreshWco();
          this.spindleDir = null;
          this.flood = this.mist = false;
        }
        this.sendLine(`[MSG:${Message.ProgramEnd}]`);
        return true;
      case 'home':
        return this.runHoming(job);
    }
  }

  private applySpindle(dir: 'off' | 'cw' | 'ccw', rpm: number): void {
    this.spindleDir = dir === 'off' ? null : dir;
    this.spindleRpm = rpm;
    this.reporter.refreshOverrides();
  }

  private actualSpindleRpm(): number {
    if (!this.spindleDir) return 0;
    const { min, max } = { min: this.settings.get(31), max: this.settings.get(30) };
    const rpm = (this.spindleRpm * this.overrides.spindle) / 100;
    if (rpm <= 0) return 0;
    return Math.min(max, Math.max(min, rpm));
  }

  private outsideTravel(target: Axes): boolean {
    for (let i = 0; i < 3; i++) {
      const { min, max } = this.settings.travel(i);
      if (target[i]! > max + 1e-9 || target[i]! < min - 1e-9) return true;
    }
    return false;
  }

  /** mc_line(): soft-limit check, wait for a free block, queue it. @returns true when queued. */
  private planLine(job: Job, target: Axes, kind: PlannerBlock['kind'], feed: number): boolean {
    if (this.settings.softLimitsEnabled && kind !== 'jog' && this.outsideTravel(target)) {
      // GRBL holds a running cycle first so queued motion stops cleanly, then locks up.
      if (this.seg || this.sys === 'Run') {
        if (!job.softLimitStop) {
          job.softLimitStop = true;
          if (this.sys === 'Run') this.sys = 'Hold';
          this.beginStop('softlimit');
        }
        if (this.seg) return false;
      }
      this.planner = [];
      this.spindleDir = null;
      this.flood = this.mist = false;
      this.raiseAlarm(AlarmCode.SoftLimit);
      this.sendLine(`[MSG:${Message.CriticalEvent}]`);
      this.critical = true;
      return false;
    }
    if (this.sys === 'Check') return true;
    if (this.planner.length >= this.options.plannerBlocks) {
      this.startCycleIfQueued();
      return false;
    }
    const block = makeBlock(this.plannerPos, target, kind, feed, null);
    if (block) {
      this.planner.push(block);
      this.plannerPos = [...target];
      job.lastBlock = block;
      if (kind === 'jog' && this.sys === 'Idle') this.startCycleIfQueued();
    }
    return true;
  }

  // ------------------------------------------------------------------ $ commands

  /** system_execute_line(). @returns a status, or null when the job continues (homing, jog). */
  private systemCommand(job: Job): number | null {
    const line = job.text;
    const c1 = line[1];
    const idleOrAlarm = this.sys === 'Idle' || this.sys === 'Alarm';
    if (c1 === undefined) {
      this.sendLine(HELP_LINE);
      return 0;
    }
    if (c1 === 'J') {
      if (this.sys !== 'Idle' && this.sys !== 'Jog') return ErrorCode.IdleError;
      if (line[2] !== '=') return ErrorCode.InvalidStatement;
      const parsed = parseBlock(line.slice(3), this.gc, this.coordData, true);
      if (!parsed.ok) return parsed.code;
      if (this.settings.softLimitsEnabled && this.outsideTravel(parsed.state.position)) return ErrorCode.TravelExceeded;
      job.parsed = parsed;
      job.actions = parsed.actions;
      return null;
    }
    if ('$GCX'.includes(c1)) {
      if (line.length !== 2) return ErrorCode.InvalidStatement;
      switch (c1) {
        case '$':
          if (this.sys === 'Run' || this.sys === 'Hold') return ErrorCode.IdleError;
          for (const l of this.settings.report()) this.sendLine(l);
          return 0;
        case 'G':
          this.sendLine(formatGcodeModes(this.gc));
          return 0;
        case 'C':
          if (this.sys === 'Check') {
            this.sendLine(`[MSG:${Message.Disabled}]`);
            job.afterOk = () => this.doSoftReset();
            return 0;
          }
          if (this.sys !== 'Idle') return ErrorCode.IdleError;
          this.sys = 'Check';
          this.sendLine(`[MSG:${Message.Enabled}]`);
          return 0;
        default: // 'X'
          if (this.sys === 'Alarm') {
            if (this.doorAjar) return ErrorCode.CheckDoor;
            this.sendLine(`[MSG:${Message.AlarmUnlock}]`);
            this.sys = 'Idle';
            this.alarmCode = null;
          }
          return 0;
      }
    }
    if (!idleOrAlarm) return ErrorCode.IdleError;
    switch (c1) {
      case '#':
        if (line.length !== 2) return ErrorCode.InvalidStatement;
        this.reportParameters();
        return 0;
      case 'H':
        if (!this.settings.homingEnabled) return ErrorCode.SettingDisabled;
        if (this.doorAjar) return ErrorCode.CheckDoor;
        if (line.length !== 2) return ErrorCode.InvalidStatement;
        this.sys = 'Home';
        job.actions = [{ type: 'home' }];
        return null;
      case 'S':
        if (line !== '$SLP') return ErrorCode.InvalidStatement;
        job.afterOk = () => {
          this.sys = 'Sleep';
          this.spindleDir = null;
          this.flood = this.mist = false;
          this.sendLine(`[MSG:${Message.SleepMode}]`);
        };
        return 0;
      case 'I':
        if (line.length === 2) {
          this.sendLine(`[VER:1.1h.${VERSION_BUILD}:${this.buildInfo}]`);
          this.sendLine(`[OPT:VM,${this.options.plannerBlocks},${this.options.rxBufferSize}]`);
          return 0;
        }
        if (line[2] !== '=') return ErrorCode.InvalidStatement;
        this.buildInfo = job.raw.slice(job.raw.indexOf('=') + 1).trim();
        return 0;
      case 'R': {
        const m = /^\$RST=([$#*])$/.exec(line);
        if (!m) return ErrorCode.InvalidStatement;
        if (m[1] !== '#') {
          const fresh = new GrblSettings(this.options);
          for (const l of fresh.report()) {
            const [n, v] = l.slice(1).split('=');
            this.settings.store(Number(n), Number(v));
          }
        }
        if (m[1] !== '$') this.coordData = emptyCoordData();
        this.sendLine(`[MSG:${Message.RestoreDefaults}]`);
        job.afterOk = () => this.doSoftReset();
        return 0;
      }
      case 'N':
        if (line.length === 2) {
          this.startupLines.forEach((l, n) => this.sendLine(`$N${n}=${l}`));
          return 0;
        }
        if (this.sys !== 'Idle') return ErrorCode.IdleError;
        return this.storeStartupLine(line);
      default:
        return this.storeSetting(line);
    }
  }

  private storeStartupLine(line: string): number {
    const n = readFloat(line, 2);
    if (!n) return ErrorCode.BadNumberFormat;
    if (line[n.next] !== '=') return ErrorCode.InvalidStatement;
    const block = line.slice(n.next + 1);
    const index = Math.trunc(n.value);
    if (index > 1) return ErrorCode.InvalidStatement;
    if (block !== '') {
      const parsed = parseBlock(block, this.gc, this.coordData);
      if (!parsed.ok) return parsed.code;
    }
    this.startupLines[index as 0 | 1] = block;
    return 0;
  }

  private storeSetting(line: string): number {
    const n = readFloat(line, 1);
    if (!n) return ErrorCode.BadNumberFormat;
    if (line[n.next] !== '=') return ErrorCode.InvalidStatement;
    const v = readFloat(line, n.next + 1);
    if (!v) return ErrorCode.BadNumberFormat;
    if (v.next !== line.length || n.value > 255) return ErrorCode.InvalidStatement;
    return this.settings.store(Math.trunc(n.value), v.value);
  }

  private reportParameters(): void {
    const fmt = (a: Axes): string => a.map(formatCoord).join(',');
    const names = ['G54', 'G55', 'G56', 'G57', 'G58', 'G59', 'G28', 'G30'];
    names.forEach((name, i) => this.sendLine(`[${name}:${fmt(this.coordData[i]!)}]`));
    this.sendLine(`[G92:${fmt(this.gc.coordOffset)}]`);
    this.sendLine(`[TLO:${formatCoord(this.gc.toolLengthOffset)}]`);
    this.sendLine('[PRB:0.000,0.000,0.000:0]');
  }

  /** The homing cycle: Z first, then X and Y together, each seek, pull-off, locate, pull-off. */
  private runHoming(job: Job): boolean {
    const h = {
      seek: this.settings.get(25),
      feed: this.settings.get(24),
      pullOff: this.settings.get(27),
      debounce: this.settings.get(26),
    };
    const home: Axes = [0, 1, 2].map((i) => this.settings.travel(i).max - h.pullOff) as Axes;
    if (job.waitUntil === null) {
      let minutes = 0;
      for (const axes of [[2], [0, 1]]) {
        const seek = Math.max(...axes.map((i) => Math.abs(this.settings.travel(i).max - this.pos[i]!)));
        minutes += seek / h.seek + (2 * h.pullOff) / h.seek + h.pullOff / h.feed;
      }
      const ms = minutes * 60_000 + 8 * h.debounce;
      job.waitUntil = this.clock + ms / this.options.timeScale;
      return false;
    }
    if (this.clock < job.waitUntil) return false;
    job.waitUntil = null;
    this.pos = home;
    this.plannerPos = [...home];
    this.gc.position = [...home];
    this.homedFlag = true;
    this.trusted = true;
    this.alarmCode = null;
    this.sys = 'Idle';
    if (this.pendingStatus) {
      this.pendingStatus = false;
      this.sendLine(this.statusReport());
    }
    job.afterOk = () => this.queueStartupLines();
    return true;
  }

  // ------------------------------------------------------------------ reports

  private wco(): Axes {
    const g = this.gc;
    return [
      g.coordSystem[0] + g.coordOffset[0],
      g.coordSystem[1] + g.coordOffset[1],
      g.coordSystem[2] + g.coordOffset[2] + g.toolLengthOffset,
    ];
  }

  private stateText(): string {
    switch (this.sys) {
      case 'Hold':
        return this.holdComplete ? 'Hold:0' : 'Hold:1';
      case 'Door':
        if (this.doorPhase === 'restoring') return 'Door:3';
        if (this.doorPhase === 'retracting') return 'Door:2';
        return this.doorAjar ? 'Door:1' : 'Door:0';
      default:
        return this.sys;
    }
  }

  private statusReport(): string {
    const busy = ['Home', 'Run', 'Hold', 'Jog', 'Door'].includes(this.sys);
    const pins = `${this.inputPins}${this.doorAjar ? 'D' : ''}`;
    return this.reporter.format({
      state: this.stateText(),
      busy,
      machinePosition: this.currentPosition(this.clock),
      workOffset: this.wco(),
      mask: this.settings.get(10),
      plannerAvailable: this.options.plannerBlocks - this.planner.length,
      rxAvailable: this.options.rxBufferSize - this.rx.length,
      feed: this.realtimeRate(this.clock),
      spindleSpeed: this.actualSpindleRpm(),
      pins,
      overrides: this.overrides,
      spindle: this.spindleDir,
      flood: this.flood,
      mist: this.mist,
    });
  }
}
