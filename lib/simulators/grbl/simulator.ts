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
 * - Motion: the planner (planner.ts) gives every block the acceleration and rapid rate of its
 *   direction ($120–$122, $110–$112), a junction speed with the block before it from `$11`, and
 *   a nominal speed (programmed feed × override, capped by the rapid rate; G0 at the rapid rate ×
 *   rapid override). Entry speeds are re-planned whenever a block is queued or an override
 *   changes, from the executing block's current speed, and each block runs a trapezoid or
 *   triangle profile (motion.ts). Stops (feed hold, jog cancel, safety door, soft-limit hold)
 *   decelerate at each block's acceleration along the path, so the machine comes to rest v²/2a
 *   past the point where the stop began. Motion, dwell, homing and deceleration run
 *   `timeScale`× faster than real time; wire and parse times never scale.
 * - Cycle start is automatic when the RX ring holds no further complete line, when the planner
 *   is full, or when a line must wait for the planner to drain — as protocol_auto_cycle_start().
 *
 * ## Not modelled
 * Arcs (G2/G3) and probing (G38.x) answer `error:20`; the stepper's segment buffer (a planner
 * change takes effect at once, not a few milliseconds later); limit switches except through
 * `triggerHardLimit()`; laser mode; parking; the TX ring's back-pressure; EEPROM write time;
 * line numbers in reports. `$N` startup lines run after `ok` of `$H` rather than before. `!`
 * during homing is ignored. The safety door has no physical pin unless `setDoorOpen()` is used.
 *
 * ## Modelled firmware quirks
 * CR and LF each end a line (`G0X1\r\n` gets two `ok`s); `~` while `Hold:1` is ignored; after a
 * soft reset a line that was waiting inside the parser still gets its `ok` before the banner;
 * `ALARM:N` is followed by a 500 ms pause (`alarmDelayMs`) in which nothing is printed. After
 * ALARM:1 or ALARM:2 a reset during that pause is thrown away; then `[MSG:Reset to continue]`,
 * and until a new reset nothing else is serviced, `?` included (never answered, not even after
 * the reset). A `?` during homing is answered `<Home|…>` once every axis is homed.
 */
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { GcState } from './gcode-parser';
import { Homing } from './homing';
import { Machine, toVec, type RealtimeRecord, type SpindleState } from './machine';
import { GrblSimulatorOptions, ResolvedGrblOptions, Vec3, resolveOptions } from './options';
import type { Parts } from './parts';
import { Protocol } from './protocol';
import { RealtimeCommands } from './realtime';
import { ResetControl } from './reset';
import { StatusReports } from './status-report';
import { Stepper } from './stepper';
import { SystemCommands } from './system-commands';
import { Wire } from './wire';

export type { GrblMachineState, RealtimeRecord, MotionEvent, SpindleState } from './machine';

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

  private readonly m: Machine;
  private readonly parts: Parts;
  private timer: NodeJS.Timeout | null = null;
  private processing = false;
  private rerun = false;
  private lastStateText = '';
  private detachCurrent: (() => void) | null = null;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  /** Creates a powered-up controller with no client attached. */
  constructor(options: GrblSimulatorOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.m = new Machine(this.options, (event, ...args) => void this.emit(event, ...args));
    const parts = { m: this.m, noteState: () => this.noteState() } as { -readonly [K in keyof Parts]: Parts[K] };
    parts.wire = new Wire(parts);
    parts.realtime = new RealtimeCommands(parts);
    parts.stepper = new Stepper(parts);
    parts.protocol = new Protocol(parts);
    parts.system = new SystemCommands(parts);
    parts.homing = new Homing(parts);
    parts.reset = new ResetControl(parts);
    parts.status = new StatusReports(parts);
    this.parts = parts;
    this.lastStateText = this.m.stateText();
  }

  // ------------------------------------------------------------------ public inspection

  /** Bytes dropped because they arrived while the RX ring was full. */
  get overflows(): number {
    return this.m.overflows;
  }
  /** Lines whose motion completed, or that were executed when they have no motion. */
  get executedLines(): string[] {
    return this.m.executedLines;
  }
  /** Every real-time byte received, in order. */
  get receivedRealtime(): RealtimeRecord[] {
    return this.m.receivedRealtime;
  }
  /** Input pins to show in `Pn:` besides the door (e.g. 'P' or 'XZ'); test hook. */
  get inputPins(): string {
    return this.m.inputPins;
  }
  set inputPins(pins: string) {
    this.m.inputPins = pins;
  }
  /** Status-report state text: Idle, Run, Hold:0|1, Jog, Alarm, Door:0..3, Check, Home, Sleep. */
  get state(): string {
    this.sync();
    return this.m.stateText();
  }
  /** Machine position (interpolated during motion), mm. */
  get machinePosition(): Vec3 {
    this.sync();
    return toVec(this.parts.stepper.currentPosition(this.m.clock));
  }
  /** Work coordinate offset (G54..G59 + G92 + tool length offset on Z), mm. */
  get workOffset(): Vec3 {
    return toVec(this.m.wco());
  }
  /** Real-time feed rate, mm/min (0 when not moving). */
  get feedRate(): number {
    this.sync();
    return this.parts.stepper.realtimeRate(this.m.clock);
  }
  /** Physical spindle state. */
  get spindle(): SpindleState {
    const m = this.m;
    return { on: m.spindleDir !== null, cw: m.spindleDir !== 'ccw', speed: m.actualSpindleRpm() };
  }
  /** Physical coolant outputs. */
  get coolant(): { flood: boolean; mist: boolean } {
    return { flood: this.m.flood, mist: this.m.mist };
  }
  /** Code of the ALARM that put the machine in Alarm, or null (also null for the power-up lock). */
  get alarm(): number | null {
    return this.m.sys === 'Alarm' ? this.m.alarmCode : null;
  }
  /** True after a successful `$H` until the position is lost again (ALARM:3/6, power cycle). */
  get homed(): boolean {
    return this.m.homed;
  }
  /** Whether the machine position is known: homed, or homing disabled and never lost. */
  get positionTrusted(): boolean {
    return this.m.trusted;
  }
  /** Bytes currently waiting in the RX ring. */
  get rxBufferUsed(): number {
    this.sync();
    return this.m.rx.length;
  }
  /** Planner blocks in use (including the one executing). */
  get plannerUsed(): number {
    this.sync();
    return this.m.planner.length;
  }
  /** Feed, rapid and spindle overrides in percent. */
  get overrideValues(): { feed: number; rapid: number; spindle: number } {
    return { ...this.m.overrides };
  }
  /** A copy of the G-code parser state (modal groups, feed, offsets). */
  get parserState(): GcState {
    return structuredClone(this.m.gc);
  }
  /** The settings table as `$$` prints it. */
  get settingLines(): string[] {
    return this.m.settings.report();
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
    const wire = this.parts.wire;
    wire.stream = stream;
    const onData = (chunk: Buffer | string): void => this.onData(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    const onEnd = (): void => detach();
    const onError = (): void => detach();
    const detach = (): void => {
      if (wire.stream !== stream) return;
      stream.off('data', onData);
      stream.off('close', onEnd);
      stream.off('end', onEnd);
      stream.off('error', onError);
      wire.stream = null;
      this.detachCurrent = null;
      wire.clear();
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
    this.timer = null;
    this.parts.wire.stop();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Acts as if 0x18 arrived now (ALARM:3 when in motion, flush, banner). */
  softReset(): void {
    this.sync();
    this.atomically(() => this.parts.reset.softReset());
  }

  /** Restarts the firmware as a power cycle or board reset: position lost, banner. */
  powerCycle(): void {
    this.sync();
    this.atomically(() => this.parts.reset.powerCycle());
  }

  /**
   * Simulates a limit switch closing with hard limits on: outside Alarm and homing, motion stops
   * at once, the position is lost and ALARM:1 follows, a critical event like a soft limit's.
   */
  triggerHardLimit(): void {
    this.sync();
    this.atomically(() => this.parts.reset.hardLimit());
  }

  /** Simulates the safety-door input: opening acts like 0x84; the door must close to resume. */
  setDoorOpen(open: boolean): void {
    this.sync();
    this.atomically(() => {
      this.m.doorAjar = open;
      if (open) this.parts.realtime.safetyDoor();
    });
  }

  // ------------------------------------------------------------------ event loop

  private onData(chunk: Buffer): void {
    this.emit('received', chunk);
    this.parts.wire.receive(chunk);
    this.run();
  }

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
      this.parts.protocol.progress();
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
    const m = this.m;
    try {
      do {
        this.rerun = false;
        const now = performance.now();
        for (let guard = 0; guard < 1_000_000; guard++) {
          const next = this.nextEventAt();
          if (next > now) break;
          m.clock = Math.max(m.clock, next);
          this.processDue();
          this.parts.protocol.progress();
          this.noteState();
        }
        m.clock = Math.max(m.clock, now);
        this.parts.protocol.progress();
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
    const m = this.m;
    return Math.min(
      this.parts.reset.nextEventAt(),
      this.parts.wire.nextArrivalAt(),
      this.parts.stepper.nextEventAt(),
      m.doorRestoreAt ?? Infinity,
      this.parts.protocol.nextEventAt(),
    );
  }

  /** Handles the earliest due event (a reset, the end of motion, the door restore) or delivers due bytes. */
  private processDue(): void {
    const t = this.m.clock;
    if (this.parts.reset.processDue(t)) return;
    if (this.parts.stepper.processDue(t)) return;
    if (this.m.doorRestoreAt !== null && this.m.doorRestoreAt <= t) {
      this.parts.realtime.finishDoorRestore();
      return;
    }
    this.parts.wire.deliverDue(t);
  }

  private noteState(): void {
    const text = this.m.stateText();
    if (text !== this.lastStateText) {
      const previous = this.lastStateText;
      this.lastStateText = text;
      this.emit('state', text, previous);
    }
  }
}
