/**
 * Execution of planned motion (the stepper's part of the firmware): starts a cycle, runs the
 * first planner block, moves on to the next at its end, and brings motion to rest for a feed
 * hold, jog cancel, safety door or soft-limit hold, leaving the rest of a held block queued.
 */
import type { Axes } from './gcode-parser';
import { toVec, type MotionEvent, type StopReason } from './machine';
import { distanceAt, pointAt, runSegment, speedAt, stopSegment } from './motion';
import { PlannerBlock, PlannerLimits, exitSpeed, makeBlock, queueBlock, replan, restOfBlock, updateSpeeds } from './planner';
import type { Parts } from './parts';
import type { MotionKind } from './gcode-parser';

export class Stepper {
  constructor(private readonly p: Parts) {}

  /** mm/min → mm per real ms. */
  private toReal(rate: number): number {
    return (rate / 60_000) * this.p.m.options.timeScale;
  }

  /** mm per real ms → mm/min. */
  private toRate(speed: number): number {
    return (speed * 60_000) / this.p.m.options.timeScale;
  }

  /** mm/min² → mm per real ms². */
  private accelerationReal(block: PlannerBlock): number {
    return (block.acceleration / 3.6e9) * this.p.m.options.timeScale ** 2;
  }

  /** The settings the planner reads, in its units ($120–$122 are mm/s²). */
  limits(): PlannerLimits {
    const s = this.p.m.settings;
    return {
      maxRate: [s.maxRate(0), s.maxRate(1), s.maxRate(2)],
      acceleration: [0, 1, 2].map((i) => s.get(120 + i) * 3600) as Axes,
      junctionDeviation: s.get(11),
    };
  }

  /** Machine position at time t (interpolated along the executing block). */
  currentPosition(t: number): Axes {
    const m = this.p.m;
    const block = m.planner[0];
    if (m.seg && block) return pointAt(block, distanceAt(m.seg, t));
    return [...m.pos];
  }

  /** Real-time feed rate at time t, mm/min (0 at rest). */
  realtimeRate(t: number): number {
    const m = this.p.m;
    return m.seg ? this.toRate(speedAt(m.seg, t)) : 0;
  }

  /** When the executing piece of motion ends (Infinity when nothing moves). */
  nextEventAt(): number {
    const m = this.p.m;
    return m.seg && m.planner[0] ? m.seg.end : Infinity;
  }

  /** Handles the end of the executing piece of motion if it is due at `t`. @returns whether it was. */
  processDue(t: number): boolean {
    const m = this.p.m;
    if (!m.seg || !m.planner[0] || m.seg.end > t) return false;
    this.onSegmentEnd(m.seg.reason, m.seg.end);
    return true;
  }

  /** Queues a straight move (plan_buffer_line()). @returns the block, or null for a zero-length move. */
  queue(start: Axes, target: Axes, kind: MotionKind, feed: number): PlannerBlock | null {
    const m = this.p.m;
    const limits = this.limits();
    const block = makeBlock(start, target, kind, feed, limits);
    if (!block) return null;
    queueBlock(m.planner, block, limits, m.overrides);
    this.replan();
    return block;
  }

  /** The overrides changed: nominal speeds anew, and the executing block re-planned from where it is. */
  overridesChanged(): void {
    updateSpeeds(this.p.m.planner, this.p.m.overrides);
    this.replan();
  }

  /**
   * Re-plans the queue's entry speeds from the executing block's current distance and speed, and
   * that block's motion with them. A stop in progress is left alone: it decelerates regardless.
   */
  private replan(): void {
    const m = this.p.m;
    const block = m.planner[0];
    if (!block || m.seg?.stopping) return;
    const s = m.seg ? distanceAt(m.seg, m.clock) : 0;
    const v = m.seg ? speedAt(m.seg, m.clock) : 0;
    const rate = this.toRate(v);
    replan(m.planner, rate * rate, block.length - s);
    if (m.seg) this.run(block, s, v);
  }

  private run(block: PlannerBlock, s: number, v: number): void {
    const m = this.p.m;
    const exit = this.toReal(exitSpeed(m.planner, 0));
    m.seg = runSegment(m.clock, s, v, block.length, this.toReal(block.nominal), exit, this.accelerationReal(block));
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
    this.startBlock(0);
  }

  /** The first queued block starts, entered at `entry` (mm per real ms). */
  private startBlock(entry: number): void {
    const m = this.p.m;
    const block = m.planner[0];
    if (!block) return;
    if (m.stopReason) m.seg = stopSegment(m.clock, 0, entry, block.length, this.accelerationReal(block));
    else {
      const rate = this.toRate(entry);
      replan(m.planner, rate * rate, block.length);
      this.run(block, 0, entry);
    }
    m.emit('motion-start', motionEvent(block, this.toRate(entry)));
  }

  /** Begins bringing motion to rest for `reason`; at once when nothing moves. */
  beginStop(reason: StopReason): void {
    const m = this.p.m;
    m.stopReason = reason;
    const block = m.planner[0];
    if (m.seg && block) {
      const s = distanceAt(m.seg, m.clock);
      const v = speedAt(m.seg, m.clock);
      m.seg = stopSegment(m.clock, s, v, block.length, this.accelerationReal(block));
      if (v > 0) return;
    }
    this.onStopped();
  }

  private onSegmentEnd(reason: 'block-end' | 'stopped', at: number): void {
    const m = this.p.m;
    const block = m.planner[0]!;
    const seg = m.seg!;
    if (reason === 'stopped') {
      m.pos = pointAt(block, distanceAt(seg, at));
      m.seg = null;
      // plan_cycle_reinitialize(): the rest of the block stays queued for the resume, from rest.
      const rest = restOfBlock(block, m.pos);
      if (rest) m.planner[0] = rest;
      else this.completeBlock(block, 0);
      this.onStopped();
      return;
    }
    const exit = speedAt(seg, at);
    m.pos = [...block.target];
    m.seg = null;
    this.completeBlock(block, exit);
    if (m.planner.length > 0) {
      this.startBlock(exit);
      if (m.stopReason && exit <= 0) {
        m.seg = null;
        this.onStopped();
      }
    } else if (m.stopReason) {
      this.onStopped();
    } else if (m.sys === 'Run' || m.sys === 'Jog') {
      m.sys = 'Idle'; // cycle stop: the planner ran dry
    }
  }

  private completeBlock(block: PlannerBlock, exit: number): void {
    const m = this.p.m;
    if (m.planner[0] === block) m.planner.shift();
    m.emit('motion-end', motionEvent(block, this.toRate(exit)));
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

function motionEvent(block: PlannerBlock, rate: number): MotionEvent {
  return { from: toVec(block.start), to: toVec(block.target), kind: block.kind, line: block.line, rate };
}
