/**
 * Real-time commands, acted on as they cross the wire, ahead of any buffered line: status
 * request, cycle start, feed hold, soft reset, safety door, jog cancel, overrides and the
 * accessory toggles (the serial ISR and protocol_exec_rt_system()).
 */
import { Message, Override, Realtime } from './codes';
import type { Parts } from './parts';

export class RealtimeCommands {
  constructor(private readonly p: Parts) {}

  onRealtime(byte: number): void {
    const m = this.p.m;
    switch (byte) {
      case Realtime.Reset:
        this.p.reset.softReset();
        return;
      case Realtime.StatusReport:
        this.p.status.request();
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
        if (m.sys === 'Jog') this.cancelJog();
        return;
      case Realtime.CoolantFloodToggle:
      case Realtime.CoolantMistToggle:
        if (['Idle', 'Run', 'Hold', 'Jog'].includes(m.sys)) {
          const modal = m.gc.modal;
          if (byte === Realtime.CoolantFloodToggle) modal.flood = !modal.flood;
          else modal.mist = !modal.mist;
          m.flood = modal.flood;
          m.mist = modal.mist;
          m.reporter.refreshOverrides();
        }
        return;
      case Realtime.SpindleOvrStop:
        if (m.sys === 'Hold' && m.holdComplete) {
          m.spindleDir = m.spindleDir ? null : m.gc.modal.spindle === 'off' ? null : m.gc.modal.spindle;
          m.reporter.refreshOverrides();
        }
        return;
      default:
        this.applyOverride(byte);
    }
  }

  private applyOverride(byte: number): void {
    const m = this.p.m;
    const o = { ...m.overrides };
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
    if (o.feed === m.overrides.feed && o.rapid === m.overrides.rapid && o.spindle === m.overrides.spindle) return;
    m.overrides = o;
    m.reporter.refreshOverrides();
    this.p.stepper.overridesChanged();
  }

  private cycleStart(): void {
    const m = this.p.m;
    if (m.sys === 'Door' && m.doorPhase === 'ready' && !m.doorAjar) {
      m.doorPhase = 'restoring';
      const spindleDelay = m.gc.modal.spindle !== 'off' ? 4000 : 0;
      const coolantDelay = m.gc.modal.flood || m.gc.modal.mist ? 1000 : 0;
      m.doorRestoreAt = m.clock + (spindleDelay + coolantDelay) / m.options.timeScale;
      return;
    }
    if (m.sys === 'Idle') {
      this.p.stepper.startCycleIfQueued();
      return;
    }
    if (m.sys === 'Hold' && m.holdComplete) {
      m.holdComplete = false;
      m.sys = 'Idle';
      this.p.stepper.startCycleIfQueued();
    }
    // Hold:1 (still decelerating), Door:2/3, Alarm…: ignored, as the firmware does.
  }

  private feedHold(): void {
    const m = this.p.m;
    switch (m.sys) {
      case 'Run':
        m.sys = 'Hold';
        m.holdComplete = false;
        this.p.stepper.beginStop('hold');
        return;
      case 'Jog':
        this.cancelJog();
        return;
      case 'Idle':
        m.sys = 'Hold';
        m.holdComplete = true;
        return;
      default:
        return; // Alarm, Check, Hold, Door, Home, Sleep: nothing to hold
    }
  }

  private cancelJog(): void {
    const m = this.p.m;
    if (m.jogCancel) return;
    m.jogCancel = true;
    this.p.stepper.beginStop('jog');
  }

  /** The safety door opened (0x84 or the door input). */
  safetyDoor(): void {
    const m = this.p.m;
    if (m.sys === 'Alarm' || m.sys === 'Check' || m.sys === 'Sleep' || m.sys === 'Home') return;
    this.p.wire.sendLine(`[MSG:${Message.SafetyDoorAjar}]`);
    switch (m.sys) {
      case 'Jog':
        m.doorAfterJog = true;
        this.cancelJog();
        return;
      case 'Run':
        m.sys = 'Door';
        m.doorPhase = 'retracting';
        this.p.stepper.beginStop('door');
        return;
      case 'Hold':
        m.sys = 'Door';
        if (m.holdComplete) this.doorRetracted();
        else {
          m.doorPhase = 'retracting';
          m.stopReason = 'door';
        }
        return;
      case 'Idle':
        m.sys = 'Door';
        this.doorRetracted();
        return;
      case 'Door':
        if (m.doorPhase === 'restoring') {
          m.doorRestoreAt = null;
          this.doorRetracted();
        }
        return;
      default:
        return;
    }
  }

  /** Motion is at rest behind the open door: spindle and coolant off (Door:0/1). */
  doorRetracted(): void {
    const m = this.p.m;
    m.doorPhase = 'ready';
    m.holdComplete = true;
    m.outputsOff();
    m.reporter.refreshOverrides();
  }

  /** The door's restore delays (spindle spin-up, coolant) have passed: resume. */
  finishDoorRestore(): void {
    const m = this.p.m;
    m.doorRestoreAt = null;
    if (m.sys !== 'Door') return;
    m.doorPhase = null;
    m.holdComplete = false;
    m.applySpindle(m.gc.modal.spindle, m.gc.spindleSpeed);
    m.flood = m.gc.modal.flood;
    m.mist = m.gc.modal.mist;
    m.sys = 'Idle';
    this.p.stepper.startCycleIfQueued();
  }
}
