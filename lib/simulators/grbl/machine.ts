/**
 * The machine-state object every part of the simulated firmware shares, as GRBL's parts share
 * its globals (sys, gc_state, the planner ring, settings): what state the machine is in, where
 * it is, what it is doing, and the parser and settings. Parts read and write it directly; the
 * derived views that several parts need (state text, work offset, spindle speed) live here.
 */
import { performance } from 'node:perf_hooks';
import type { GcAction, GcState, ParsedBlock, Axes, CoordData } from './gcode-parser';
import { emptyCoordData, initialGcState } from './gcode-parser';
import type { Segment } from './motion';
import type { PlannerBlock } from './planner';
import type { ResolvedGrblOptions, Vec3 } from './options';
import { GrblSettings } from './settings';
import { StatusReporter } from './status-report';

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
  /** Feed rate at that instant, mm/min: the entry speed at the start, the exit speed at the end. */
  rate: number;
}

/** Physical spindle state. */
export interface SpindleState {
  on: boolean;
  cw: boolean;
  /** Actual speed in rpm (programmed S × override, clamped to $30/$31). 0 when off. */
  speed: number;
}

/** Where a safety-door stop is: retracting (Door:2), parked (Door:0/1), restoring (Door:3). */
export type DoorPhase = 'retracting' | 'ready' | 'restoring';

/** Why motion is being brought to rest. */
export type StopReason = 'hold' | 'jog' | 'door' | 'softlimit';

/** One line on its way through the parser: parsed, then its actions run one by one. */
export interface Job {
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

/** Emits a simulator event (the simulator is the EventEmitter clients listen on). */
export type Emit = (event: string, ...args: unknown[]) => void;

/** Axes as the public `{ x, y, z }` shape. */
export const toVec = (a: Axes): Vec3 => ({ x: a[0], y: a[1], z: a[2] });

const NO_OVERRIDES = { feed: 100, rapid: 100, spindle: 100 };

/** The shared state. Times are real milliseconds on `performance.now()`'s clock. */
export class Machine {
  readonly settings: GrblSettings;
  readonly reporter = new StatusReporter();
  coordData: CoordData = emptyCoordData();
  startupLines: [string, string] = ['', ''];
  buildInfo = '';
  gc: GcState;
  sys: GrblMachineState;
  holdComplete = false;
  jogCancel = false;
  stopReason: StopReason | null = null;
  doorPhase: DoorPhase | null = null;
  doorAjar = false;
  doorRestoreAt: number | null = null;
  doorAfterJog = false;
  /**
   * After a hard or soft limit alarm (ALARM:1/2): until a reset nothing is serviced, no line
   * and no `?`. Stays true through the alarm wait.
   */
  critical = false;
  /**
   * End of the blocking delay after a critical alarm; a reset that arrives before it is thrown
   * away (the firmware clears the reset flag when the delay ends). Null outside that window.
   */
  criticalWaitUntil: number | null = null;
  /** When the firmware re-initialises after a reset (banner); null when no reset is pending. */
  reinitAt: number | null = null;
  /** A status request arrived while it could not be answered; answered when it can be. */
  pendingStatus = false;
  alarmCode: number | null = null;
  homed = false;
  trusted: boolean;

  pos: Axes = [0, 0, 0];
  plannerPos: Axes = [0, 0, 0];
  planner: PlannerBlock[] = [];
  seg: Segment | null = null;
  overrides = { ...NO_OVERRIDES };
  spindleDir: 'cw' | 'ccw' | null = null;
  spindleRpm = 0;
  flood = false;
  mist = false;

  /** The simulator's clock: the instant the model has been brought up to. */
  clock = performance.now();
  /** The RX ring: bytes received and not yet taken out as a line. */
  rx: number[] = [];
  job: Job | null = null;
  startupQueue: string[] = [];

  /** Bytes dropped because they arrived while the RX ring was full. */
  overflows = 0;
  /** Lines whose motion completed, or that were executed when they have no motion. */
  readonly executedLines: string[] = [];
  /** Every real-time byte received, in order. */
  readonly receivedRealtime: RealtimeRecord[] = [];
  /** Input pins to show in `Pn:` besides the door. */
  inputPins = '';

  constructor(readonly options: ResolvedGrblOptions, readonly emit: Emit) {
    this.settings = new GrblSettings(options);
    this.sys = options.startLocked ? 'Alarm' : 'Idle';
    this.trusted = !options.homingEnabled;
    this.gc = initialGcState(this.coordData, this.pos);
  }

  /** Status-report state text: Idle, Run, Hold:0|1, Jog, Alarm, Door:0..3, Check, Home, Sleep. */
  stateText(): string {
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

  /** Work coordinate offset: G54..G59 + G92 + tool length offset on Z. */
  wco(): Axes {
    const g = this.gc;
    return [
      g.coordSystem[0] + g.coordOffset[0],
      g.coordSystem[1] + g.coordOffset[1],
      g.coordSystem[2] + g.coordOffset[2] + g.toolLengthOffset,
    ];
  }

  /** No line is parsed while held, at the door, asleep or cancelling a jog. */
  isSuspended(): boolean {
    return this.sys === 'Hold' || this.sys === 'Door' || this.sys === 'Sleep' || this.jogCancel;
  }

  /** Motion queued or executing. */
  plannerBusy(): boolean {
    return this.planner.length > 0 || this.seg !== null;
  }

  /** Overrides back to 100 % (reset, program end). */
  resetOverrides(): void {
    this.overrides = { ...NO_OVERRIDES };
  }

  /** Switches the spindle output. */
  applySpindle(dir: 'off' | 'cw' | 'ccw', rpm: number): void {
    this.spindleDir = dir === 'off' ? null : dir;
    this.spindleRpm = rpm;
    this.reporter.refreshOverrides();
  }

  /** Spindle and coolant off, as every stop that kills outputs does. */
  outputsOff(): void {
    this.spindleDir = null;
    this.flood = this.mist = false;
  }

  /** Actual spindle speed: programmed × override, clamped to $31..$30; 0 when off. */
  actualSpindleRpm(): number {
    if (!this.spindleDir) return 0;
    const min = this.settings.get(31);
    const max = this.settings.get(30);
    const rpm = (this.spindleRpm * this.overrides.spindle) / 100;
    if (rpm <= 0) return 0;
    return Math.min(max, Math.max(min, rpm));
  }

  /** True when a target lies outside the soft-limit travel. */
  outsideTravel(target: Axes): boolean {
    for (let i = 0; i < 3; i++) {
      const { min, max } = this.settings.travel(i);
      if (target[i]! > max + 1e-9 || target[i]! < min - 1e-9) return true;
    }
    return false;
  }
}
