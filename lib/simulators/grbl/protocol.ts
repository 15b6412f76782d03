/**
 * The protocol loop: lines out of the RX ring (and `$N` startup lines), each parsed for
 * `parseTimeMs` of real time, then executed action by action and answered with `ok` or
 * `error:N` (protocol_main_loop(), gc_execute_line(), mc_line()). A motion line waits for a free
 * planner block; spindle, coolant, dwell, WCO and EEPROM changes first wait for the planner to
 * drain (GRBL's buffer syncs). No line is parsed while the machine is held.
 */
import { AlarmCode, ErrorCode, Message } from './codes';
import { GcAction, filterLine, parseBlock, programEndState, type Axes } from './gcode-parser';
import type { Job } from './machine';
import type { PlannerBlock } from './planner';
import type { Parts } from './parts';

export class Protocol {
  constructor(private readonly p: Parts) {}

  private takeLine(): string | null {
    const m = this.p.m;
    const end = m.rx.findIndex((b) => b === 0x0a || b === 0x0d);
    if (end < 0) return null;
    const bytes = m.rx.splice(0, end + 1);
    bytes.pop();
    return Buffer.from(bytes).toString('latin1');
  }

  /** When the line in hand next needs attention (Infinity when it waits on something else). */
  nextEventAt(): number {
    const m = this.p.m;
    if (!m.job || m.reinitAt !== null || m.critical) return Infinity;
    if (m.job.stage === 'parsing') return m.job.readyAt;
    return m.job.waitUntil ?? Infinity;
  }

  /** Takes, parses and executes lines for as long as nothing makes the loop wait. */
  progress(): void {
    const m = this.p.m;
    for (let guard = 0; guard < 10_000; guard++) {
      if (m.reinitAt !== null || m.critical) return;
      const job = m.job;
      if (job) {
        if (job.stage === 'parsing') {
          if (m.clock < job.readyAt) return;
          this.startJob(job);
          if (m.job !== job) continue;
        }
        if (!this.stepJob(job)) return;
        this.finishJob(job, 0);
        continue;
      }
      if (m.isSuspended() || m.sys === 'Home') return;
      const startup = m.startupQueue.length > 0;
      const raw = startup ? m.startupQueue.shift()! : this.takeLine();
      if (raw === null) {
        this.p.stepper.startCycleIfQueued();
        return;
      }
      const filtered = filterLine(raw);
      m.job = {
        raw,
        text: filtered.text,
        overflow: filtered.overflow,
        startup,
        stage: 'parsing',
        readyAt: m.clock + m.options.parseTimeMs,
        actions: [],
        index: 0,
        parsed: null,
        waitUntil: null,
        pauseStarted: false,
        softLimitStop: false,
        lastBlock: null,
        afterOk: null,
      };
      if (!startup) m.emit('line', raw);
    }
  }

  private finishJob(job: Job, status: number): void {
    const m = this.p.m;
    if (m.job !== job) return;
    m.job = null;
    const answer = status === 0 ? 'ok' : `error:${status}`;
    this.p.wire.sendLine(job.startup ? `>${job.text}:${answer}` : answer);
    const isGcode = job.text !== '' && (!job.text.startsWith('$') || job.text.startsWith('$J='));
    if (status === 0 && isGcode) {
      const last = job.lastBlock;
      if (last && m.planner.includes(last)) last.line = job.raw;
      else m.executedLines.push(job.raw);
    }
    const after = job.afterOk;
    if (after) after();
  }

  /** Parses the line and either answers it at once or sets up its actions. */
  private startJob(job: Job): void {
    const m = this.p.m;
    job.stage = 'exec';
    if (job.overflow) return this.finishJob(job, ErrorCode.Overflow);
    if (job.text === '') return this.finishJob(job, 0);
    if (job.text.startsWith('$')) {
      const status = this.p.system.execute(job);
      if (status !== null) this.finishJob(job, status);
      return;
    }
    if (m.sys === 'Alarm' || m.sys === 'Jog') return this.finishJob(job, ErrorCode.SystemGcLock);
    const parsed = parseBlock(job.text, m.gc, m.coordData);
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

  private runAction(job: Job, action: GcAction | { type: 'home' }): boolean {
    const m = this.p.m;
    const check = m.sys === 'Check';
    switch (action.type) {
      case 'sync':
        if (!m.plannerBusy()) return true;
        this.p.stepper.startCycleIfQueued();
        return false;
      case 'commit': {
        const parsed = job.parsed!;
        if (parsed.jog) m.gc.position = [...parsed.state.position];
        else {
          m.gc = parsed.state;
          m.coordData = parsed.coordData;
        }
        if (parsed.wcoChanged) m.reporter.refreshWco();
        return true;
      }
      case 'spindle':
        if (!check) m.applySpindle(action.spindle, action.speed);
        return true;
      case 'coolant':
        if (!check) {
          m.mist = action.mist;
          m.flood = action.flood;
          m.reporter.refreshOverrides();
        }
        return true;
      case 'dwell':
        if (check) return true;
        if (job.waitUntil === null) job.waitUntil = m.clock + (action.seconds * 1000) / m.options.timeScale;
        if (m.clock < job.waitUntil) return false;
        job.waitUntil = null;
        return true;
      case 'line':
        return this.planLine(job, action.target, action.kind, action.feed);
      case 'pause':
        if (check) return true;
        if (!job.pauseStarted) {
          job.pauseStarted = true;
          m.sys = 'Hold';
          m.holdComplete = true;
          return false;
        }
        return !m.isSuspended();
      case 'programEnd':
        m.gc = programEndState(m.gc, m.coordData);
        m.resetOverrides();
        if (!check) {
          m.reporter.refreshWco();
          m.outputsOff();
        }
        this.p.wire.sendLine(`[MSG:${Message.ProgramEnd}]`);
        return true;
      case 'home':
        return this.p.homing.run(job);
    }
  }

  /** mc_line(): soft-limit check, wait for a free block, queue it. @returns true when queued. */
  private planLine(job: Job, target: Axes, kind: PlannerBlock['kind'], feed: number): boolean {
    const m = this.p.m;
    if (m.settings.softLimitsEnabled && kind !== 'jog' && m.outsideTravel(target)) {
      // GRBL holds a running cycle first so queued motion stops cleanly, then locks up.
      if (m.seg || m.sys === 'Run') {
        if (!job.softLimitStop) {
          job.softLimitStop = true;
          if (m.sys === 'Run') m.sys = 'Hold';
          this.p.stepper.beginStop('softlimit');
        }
        if (m.seg) return false;
      }
      this.p.reset.criticalAlarm(AlarmCode.SoftLimit);
      return false;
    }
    if (m.sys === 'Check') return true;
    if (m.planner.length >= m.options.plannerBlocks) {
      this.p.stepper.startCycleIfQueued();
      return false;
    }
    const block = this.p.stepper.queue(m.plannerPos, target, kind, feed);
    if (block) {
      m.plannerPos = [...target];
      job.lastBlock = block;
      if (kind === 'jog' && m.sys === 'Idle') this.p.stepper.startCycleIfQueued();
    }
    return true;
  }
}
