/**
 * Execution of planned motion (the stepper's part of the firmware): starts a cycle, runs the
 * first planner block, moves on to the next at its end, and brings motion to rest for a feed
 * hold, jog cancel, safety door or soft-limit hold, leaving the rest of a held block queued.
 */
import type { Axes } from './gcode-parser';
import { toVec, type MotionEvent, type StopReason } from './machine';
import { PlannerBlock, blockRate, distanceAt, makeBlock, pointAt, segmentEnd, speedAt } from './motion';
import type { Parts } from './parts';

export class Stepper {
  constructor(private readonly p: Parts) {}

  private blockSpeed(block: PlannerBlock): number {
    const m = this.p.m;
    const maxRate: Axes = [m.settings.maxRate(0), m.settings.maxRate(1), m.settings.maxRate(2)];
    return (blockRate(block, maxRate, m.overrides) / 60_000) * m.options.timeScale;
  }

  private decel(): number {
    return (this.p.m.options.acceleration / 1e6) * this.p.m.options.timeScale ** 2;
  }

  /** Machine position at time t (interpolated along the executing block). */
  currentPosition(t: number): Axes {
    const m = this.p.m;
    const block = m.planner[0];
    if (m.seg && block) return pointAt(block, distanceAt(m.seg, t, block.length));
    return [...m.pos];
  }

  /** Real-time feed rate at time t, mm/min (0 at rest). */
  realtimeRate(t: number): number {
    const m = this.p.m;
    if (!m.seg) return 0;
    return (speedAt(m.seg, t) * 60_000) / m.options.timeScale;
  }

  /** When the executing piece of motion ends (Infinity when nothing moves). */
  nextEventAt(): number {
    const m = this.p.m;
    if (m.seg && m.planner[0]) return segmentEnd(m.seg, m.planner[0].length).at;
    return Infinity;
  }

  /** Handles the end of the executing piece of motion if it is due at `t`. @returns whether it was. */
  processDue(t: number): boolean {
    const m = this.p.m;
    if (!m.seg || !m.planner[0]) return false;
    const end = segmentEnd(m.seg, m.planner[0].length);
    if (end.at > t) return false;
    this.onSegmentEnd(end.reason, end.at);
    return true;
  }

  /** The overrides changed: a cruising block changes speed from here on (the planner re-plans at once). */
  overridesChanged(): void {
    const m = this.p.m;
    if (m.seg && m.seg.decel === 0 && m.planner[0]) {
      const s = distanceAt(m.seg, m.clock, m.planner[0].length);
      m.seg = { t0: m.clock, s0: s, v0: this.blockSpeed(m.planner[0]), decel: 0 };
    }
  }

  /** A block was queued. */
  blockAdded(): void {
    // Blocks run at constant speed: nothing to re-plan.
  }

  /** Stops all motion at once and forgets the queue (reset): the position is where it stopped. */
  abort(): boolean {
    const m = this.p.m;
    const moving = m.seg !== null;
    if (m.seg) m.pos = this.currentPosition(m.clock);
    m.seg = null;
    m.planner = [];
    m.stopReason = null;
    return moving;
  }

  /** protocol_auto_cycle_start(): Idle with queued motion starts a cycle. */
  startCycleIfQueued(): void {
    const m = this.p.m;
    if (m.sys !== 'Idle' || m.planner.length === 0 || m.seg) return;
    m.sys = m.planner[0]!.kind === 'jog' ? 'Jog' : 'Run';
    this.p.noteState(); // listeners see Run/Jog before the first 'motion-start'
    this.startBlock(null);
  }

  private startBlock(entrySpeed: number | null): void {
    const m = this.p.m;
    const block = m.planner[0];
    if (!block) return;
    const stopping = m.stopReason !== null;
    m.seg = {
      t0: m.clock,
      s0: 0,
      v0: entrySpeed ?? this.blockSpeed(block),
      decel: stopping ? this.decel() : 0,
    };
    m.emit('motion-start', motionEvent(block));
  }

  /** Begins bringing motion to rest for `reason`; at once when nothing moves. */
  beginStop(reason: StopReason): void {
    const m = this.p.m;
    m.stopReason = reason;
    const block = m.planner[0];
    if (m.seg && block) {
      const s = distanceAt(m.seg, m.clock, block.length);
      const v = speedAt(m.seg, m.clock);
      m.seg = { t0: m.clock, s0: s, v0: v, decel: this.decel() };
      if (v > 0) return;
    }
    this.onStopped();
  }

  private onSegmentEnd(reason: 'block-end' | 'stopped', at: number): void {
    const m = this.p.m;
    const block = m.planner[0]!;
    const seg = m.seg!;
    if (reason === 'stopped') {
      m.pos = pointAt(block, distanceAt(seg, at, block.length));
      m.seg = null;
      // plan_cycle_reinitialize(): the rest of the block stays queued for the resume.
      const rest = makeBlock(m.pos, block.target, block.kind, block.feed, block.line);
      if (rest) m.planner[0] = rest;
      else this.completeBlock(block);
      this.onStopped();
      return;
    }
    const exitSpeed = speedAt(seg, at);
    m.pos = [...block.target];
    m.seg = null;
    this.completeBlock(block);
    if (m.planner.length > 0) {
      this.startBlock(m.stopReason ? exitSpeed : null);
      if (m.stopReason && exitSpeed <= 0) {
        m.seg = null;
        this.onStopped();
      }
    } else if (m.stopReason) {
      this.onStopped();
    } else if (m.sys === 'Run' || m.sys === 'Jog') {
      m.sys = 'Idle'; // cycle stop: the planner ran dry
    }
  }

  private completeBlock(block: PlannerBlock): void {
    const m = this.p.m;
    if (m.planner[0] === block) m.planner.shift();
    m.emit('motion-end', motionEvent(block));
    if (block.line !== null) m.executedLines.push(block.line);
  }

  /** Motion has come to rest after a stop request (or there was nothing moving). */
  private onStopped(): void {
    const m = this.p.m;
    const reason = m.stopReason;
    m.stopReason = null;
    if (reason === 'jog' || m.jogCancel) {
      // Jog cancel flushes every queued jog and re-syncs parser and planner positions.
      m.planner = [];
      m.jogCancel = false;
      m.plannerPos = [...m.pos];
      m.gc.position = [...m.pos];
      if (m.doorAfterJog) {
        m.doorAfterJog = false;
        m.sys = 'Door';
        this.p.realtime.doorRetracted();
      } else m.sys = 'Idle';
      return;
    }
    if (reason === 'softlimit') {
      m.sys = 'Idle';
      return;
    }
    if (m.sys === 'Hold') m.holdComplete = true;
    else if (m.sys === 'Door') this.p.realtime.doorRetracted();
  }
}

function motionEvent(block: PlannerBlock): MotionEvent {
  return { from: toVec(block.start), to: toVec(block.target), kind: block.kind, line: block.line };
}
