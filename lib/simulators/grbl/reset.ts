/**
 * Soft reset, alarms and the firmware's re-initialisation (mc_reset(), report_alarm_message(),
 * the alarm branch of protocol_exec_rt_system() and main()'s reset loop).
 */
import { AlarmCode, Message } from './codes';
import { initialGcState } from './gcode-parser';
import type { Parts } from './parts';

export class ResetControl {
  constructor(private readonly p: Parts) {}

  /**
   * 0x18: stops everything; in motion (or homing) first ALARM:3 (or 6), then re-initialise.
   * During the wait after a critical alarm the reset is thrown away.
   */
  softReset(): void {
    const m = this.p.m;
    if (m.reinitAt !== null || m.criticalWaitUntil !== null) return;
    m.critical = false;
    const homing = m.sys === 'Home';
    const moving = this.p.stepper.abort() || homing;
    m.outputsOff();
    m.doorRestoreAt = null;
    if (moving) {
      this.raiseAlarm(homing ? AlarmCode.HomingFailReset : AlarmCode.AbortCycle);
      m.homed = false;
      m.trusted = false;
      m.reinitAt = m.clock + m.options.alarmDelayMs;
    } else {
      m.reinitAt = m.clock;
    }
  }

  /** Enters Alarm and prints `ALARM:N`, then the firmware's blocking delay holds output back. */
  raiseAlarm(code: number): void {
    const m = this.p.m;
    m.sys = 'Alarm';
    m.alarmCode = code;
    this.p.wire.sendLine(`ALARM:${code}`);
    this.p.wire.pauseOutput(m.options.alarmDelayMs);
    m.emit('alarm', code);
  }

  /**
   * A critical event (ALARM:1 hard limit, ALARM:2 soft limit): motion and outputs stop, the
   * alarm is printed, and after the alarm wait `[MSG:Reset to continue]`; from then on only a
   * reset is serviced (protocol_exec_rt_system()'s critical loop).
   */
  criticalAlarm(code: number): void {
    const m = this.p.m;
    this.p.stepper.abort();
    m.outputsOff();
    this.raiseAlarm(code);
    m.critical = true;
    m.criticalWaitUntil = m.clock + m.options.alarmDelayMs;
  }

  /**
   * A limit switch closed (hard limits on): outside Alarm and homing it kills motion at once, the
   * position is lost, and ALARM:1 is a critical event.
   */
  hardLimit(): void {
    const m = this.p.m;
    if (m.reinitAt !== null || m.critical || m.sys === 'Alarm' || m.sys === 'Home') return;
    m.homed = false;
    m.trusted = false;
    this.criticalAlarm(AlarmCode.HardLimit);
  }

  /** Restarts the firmware as a power cycle or board reset does: position lost, banner. */
  powerCycle(): void {
    const m = this.p.m;
    m.seg = null;
    m.planner = [];
    m.job = null;
    m.pos = [0, 0, 0];
    m.sys = m.options.startLocked ? 'Alarm' : 'Idle';
    m.alarmCode = null;
    m.homed = false;
    m.trusted = !m.settings.homingEnabled;
    m.critical = false;
    m.criticalWaitUntil = null;
    this.p.wire.resetTx();
    this.p.wire.clear();
    this.reinit();
  }

  /** When the next reset event is due: the end of an alarm wait, or re-initialisation. */
  nextEventAt(): number {
    return Math.min(this.p.m.reinitAt ?? Infinity, this.p.m.criticalWaitUntil ?? Infinity);
  }

  /** Handles a reset event due at `t`. @returns whether one was. */
  processDue(t: number): boolean {
    const m = this.p.m;
    if (m.criticalWaitUntil !== null && m.criticalWaitUntil <= t) {
      m.criticalWaitUntil = null;
      this.p.wire.sendLine(`[MSG:${Message.CriticalEvent}]`);
      return true;
    }
    if (m.reinitAt === null || m.reinitAt > t) return false;
    this.reinit();
    return true;
  }

  /** The firmware's main() re-initialisation after power-up or a soft reset. */
  private reinit(): void {
    const m = this.p.m;
    m.reinitAt = null;
    if (m.job) {
      // A line caught inside gc_execute_line() still returns STATUS_OK once the abort unwinds.
      this.p.wire.sendLine(m.job.startup ? `>${m.job.text}:ok` : 'ok');
      m.job = null;
    }
    m.rx = [];
    m.planner = [];
    m.seg = null;
    m.startupQueue = [];
    m.holdComplete = false;
    m.jogCancel = false;
    m.doorAfterJog = false;
    m.stopReason = null;
    m.doorPhase = null;
    m.critical = false;
    m.pendingStatus = false;
    m.plannerPos = [...m.pos];
    m.gc = initialGcState(m.coordData, m.pos);
    m.resetOverrides();
    m.outputsOff();
    m.reporter.refreshAll();
    m.sys = m.sys === 'Alarm' || m.sys === 'Sleep' ? 'Alarm' : 'Idle';
    this.p.wire.write(`\r\n${m.options.version}\r\n`);
    if (m.sys === 'Alarm') this.p.wire.sendLine(`[MSG:${Message.AlarmLock}]`);
    else this.queueStartupLines();
    m.emit('reset');
  }

  /** The `$N` startup lines run next, as after a reset into Idle or a successful `$H`. */
  queueStartupLines(): void {
    const m = this.p.m;
    for (const line of m.startupLines) if (line) m.startupQueue.push(line);
  }
}
