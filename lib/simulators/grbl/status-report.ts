/**
 * Formatting of the real-time status report `<...>` (report_realtime_status()), including
 * GRBL's alternation of the WCO and Ov fields: WCO is printed when its refresh counter runs
 * out (every 10 reports idle, 30 busy, or at once after a change), Ov on the report after a
 * WCO report or after an override/accessory change (every 10 idle, 20 busy otherwise).
 */
import type { Axes } from './gcode-parser';
import type { Parts } from './parts';

/** Refresh counts of config.h. */
const WCO_IDLE = 10;
const WCO_BUSY = 30;
const OVR_IDLE = 10;
const OVR_BUSY = 20;

/** Everything a status report shows, sampled at one instant. */
export interface StatusSnapshot {
  /** State text as printed: `Idle`, `Run`, `Hold:0`, `Door:1`, … */
  state: string;
  /** True in Home, Run, Hold, Jog and Door states (the counters refresh slower then). */
  busy: boolean;
  machinePosition: Axes;
  workOffset: Axes;
  /** $10 mask: bit 0 → MPos, bit 1 → Bf. */
  mask: number;
  plannerAvailable: number;
  rxAvailable: number;
  /** Real-time feed rate, mm/min. */
  feed: number;
  /** Actual spindle speed, rpm (0 when off). */
  spindleSpeed: number;
  /** Active input pins, in the order GRBL prints them (P, X, Y, Z, D, R, H, S). */
  pins: string;
  overrides: { feed: number; rapid: number; spindle: number };
  /** Spindle direction when on. */
  spindle: 'cw' | 'ccw' | null;
  flood: boolean;
  mist: boolean;
}

/** printFloat_CoordValue in mm: three decimals. */
export function formatCoord(v: number): string {
  return v.toFixed(3);
}

function axes(v: Axes): string {
  return v.map(formatCoord).join(',');
}

/** Keeps the WCO/Ov refresh counters across reports; reset with `refreshAll()`. */
export class StatusReporter {
  private wcoCounter = 0;
  private ovrCounter = 0;

  /** Forces WCO (and then Ov) into the next report, as after a reset or a WCO change. */
  refreshWco(): void {
    this.wcoCounter = 0;
  }
  /** Forces Ov into the next report, as after an override or accessory change. */
  refreshOverrides(): void {
    this.ovrCounter = 0;
  }
  /** Both counters to zero (system reset clears the sys struct). */
  refreshAll(): void {
    this.wcoCounter = 0;
    this.ovrCounter = 0;
  }

  /** Builds one report line (without `\r\n`) and advances the counters. */
  format(s: StatusSnapshot): string {
    const mpos = (s.mask & 1) !== 0;
    const position = mpos ? s.machinePosition : (s.machinePosition.map((p, i) => p - s.workOffset[i]!) as Axes);
    let out = `<${s.state}|${mpos ? 'MPos' : 'WPos'}:${axes(position)}`;
    if (s.mask & 2) out += `|Bf:${s.plannerAvailable},${s.rxAvailable}`;
    out += `|FS:${s.feed.toFixed(0)},${s.spindleSpeed.toFixed(0)}`;
    if (s.pins) out += `|Pn:${s.pins}`;
    if (this.wcoCounter > 0) this.wcoCounter--;
    else {
      this.wcoCounter = (s.busy ? WCO_BUSY : WCO_IDLE) - 1;
      if (this.ovrCounter === 0) this.ovrCounter = 1;
      out += `|WCO:${axes(s.workOffset)}`;
    }
    if (this.ovrCounter > 0) this.ovrCounter--;
    else {
      this.ovrCounter = (s.busy ? OVR_BUSY : OVR_IDLE) - 1;
      out += `|Ov:${s.overrides.feed},${s.overrides.rapid},${s.overrides.spindle}`;
      if (s.spindle || s.flood || s.mist) {
        out += `|A:${s.spindle === 'cw' ? 'S' : s.spindle === 'ccw' ? 'C' : ''}${s.flood ? 'F' : ''}${s.mist ? 'M' : ''}`;
      }
    }
    return `${out}>`;
  }
}

/** Answers `?` from the machine state (report_realtime_status()). */
export class StatusReports {
  constructor(private readonly p: Parts) {}

  /** A `?` arrived: answered at once, held until homing ends, or never during a critical alarm. */
  request(): void {
    const m = this.p.m;
    if (m.critical) return;
    if (m.sys === 'Home') m.pendingStatus = true;
    else this.p.wire.sendLine(this.report());
  }

  /** The report line for the current instant (advances the WCO/Ov counters). */
  report(): string {
    const m = this.p.m;
    const busy = ['Home', 'Run', 'Hold', 'Jog', 'Door'].includes(m.sys);
    const pins = `${m.inputPins}${m.doorAjar ? 'D' : ''}`;
    return m.reporter.format({
      state: m.stateText(),
      busy,
      machinePosition: this.p.stepper.currentPosition(m.clock),
      workOffset: m.wco(),
      mask: m.settings.get(10),
      plannerAvailable: m.options.plannerBlocks - m.planner.length,
      rxAvailable: m.options.rxBufferSize - m.rx.length,
      feed: this.p.stepper.realtimeRate(m.clock),
      spindleSpeed: m.actualSpindleRpm(),
      pins,
      overrides: m.overrides,
      spindle: m.spindleDir,
      flood: m.flood,
      mist: m.mist,
    });
  }
}
