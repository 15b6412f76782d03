/**
 * `$` system commands (system_execute_line()): help, settings, parameters, modes, check mode,
 * unlock, homing, sleep, build info, restore, startup lines, jogging and `$n=value`.
 */
import { ErrorCode, HELP_LINE, Message, VERSION_BUILD } from './codes';
import { emptyCoordData, formatGcodeModes, parseBlock, readFloat, type Axes } from './gcode-parser';
import type { Job } from './machine';
import type { Parts } from './parts';
import { GrblSettings } from './settings';
import { formatCoord } from './status-report';

export class SystemCommands {
  constructor(private readonly p: Parts) {}

  /** Runs a `$` line. @returns a status, or null when the job continues (homing, jog). */
  execute(job: Job): number | null {
    const m = this.p.m;
    const wire = this.p.wire;
    const line = job.text;
    const c1 = line[1];
    const idleOrAlarm = m.sys === 'Idle' || m.sys === 'Alarm';
    if (c1 === undefined) {
      wire.sendLine(HELP_LINE);
      return 0;
    }
    if (c1 === 'J') {
      if (m.sys !== 'Idle' && m.sys !== 'Jog') return ErrorCode.IdleError;
      if (line[2] !== '=') return ErrorCode.InvalidStatement;
      const parsed = parseBlock(line.slice(3), m.gc, m.coordData, true);
      if (!parsed.ok) return parsed.code;
      if (m.settings.softLimitsEnabled && m.outsideTravel(parsed.state.position)) return ErrorCode.TravelExceeded;
      job.parsed = parsed;
      job.actions = parsed.actions;
      return null;
    }
    if ('$GCX'.includes(c1)) {
      if (line.length !== 2) return ErrorCode.InvalidStatement;
      switch (c1) {
        case '$':
          if (m.sys === 'Run' || m.sys === 'Hold') return ErrorCode.IdleError;
          for (const l of m.settings.report()) wire.sendLine(l);
          return 0;
        case 'G':
          wire.sendLine(formatGcodeModes(m.gc));
          return 0;
        case 'C':
          if (m.sys === 'Check') {
            wire.sendLine(`[MSG:${Message.Disabled}]`);
            job.afterOk = () => this.p.reset.softReset();
            return 0;
          }
          if (m.sys !== 'Idle') return ErrorCode.IdleError;
          m.sys = 'Check';
          wire.sendLine(`[MSG:${Message.Enabled}]`);
          return 0;
        default: // 'X'
          if (m.sys === 'Alarm') {
            if (m.doorAjar) return ErrorCode.CheckDoor;
            wire.sendLine(`[MSG:${Message.AlarmUnlock}]`);
            m.sys = 'Idle';
            m.alarmCode = null;
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
        if (!m.settings.homingEnabled) return ErrorCode.SettingDisabled;
        if (m.doorAjar) return ErrorCode.CheckDoor;
        if (line.length !== 2) return ErrorCode.InvalidStatement;
        m.sys = 'Home';
        job.actions = [{ type: 'home' }];
        return null;
      case 'S':
        if (line !== '$SLP') return ErrorCode.InvalidStatement;
        job.afterOk = () => {
          m.sys = 'Sleep';
          m.outputsOff();
          wire.sendLine(`[MSG:${Message.SleepMode}]`);
        };
        return 0;
      case 'I':
        if (line.length === 2) {
          // The default build: variable spindle only (no M7 mist, which config.h leaves off).
          wire.sendLine(`[VER:1.1h.${VERSION_BUILD}:${m.buildInfo}]`);
          wire.sendLine(`[OPT:V,${m.options.plannerBlocks},${m.options.rxBufferSize}]`);
          return 0;
        }
        if (line[2] !== '=') return ErrorCode.InvalidStatement;
        m.buildInfo = job.raw.slice(job.raw.indexOf('=') + 1).trim();
        return 0;
      case 'R': {
        const match = /^\$RST=([$#*])$/.exec(line);
        if (!match) return ErrorCode.InvalidStatement;
        if (match[1] !== '#') {
          const fresh = new GrblSettings(m.options);
          for (const l of fresh.report()) {
            const [n, v] = l.slice(1).split('=');
            m.settings.store(Number(n), Number(v));
          }
        }
        if (match[1] !== '$') m.coordData = emptyCoordData();
        wire.sendLine(`[MSG:${Message.RestoreDefaults}]`);
        job.afterOk = () => this.p.reset.softReset();
        return 0;
      }
      case 'N':
        if (line.length === 2) {
          m.startupLines.forEach((l, n) => wire.sendLine(`$N${n}=${l}`));
          return 0;
        }
        if (m.sys !== 'Idle') return ErrorCode.IdleError;
        return this.storeStartupLine(line);
      default:
        return this.storeSetting(line);
    }
  }

  private storeStartupLine(line: string): number {
    const m = this.p.m;
    const n = readFloat(line, 2);
    if (!n) return ErrorCode.BadNumberFormat;
    if (line[n.next] !== '=') return ErrorCode.InvalidStatement;
    const block = line.slice(n.next + 1);
    const index = Math.trunc(n.value);
    if (index > 1) return ErrorCode.InvalidStatement;
    if (block !== '') {
      const parsed = parseBlock(block, m.gc, m.coordData);
      if (!parsed.ok) return parsed.code;
    }
    m.startupLines[index as 0 | 1] = block;
    return 0;
  }

  private storeSetting(line: string): number {
    const n = readFloat(line, 1);
    if (!n) return ErrorCode.BadNumberFormat;
    if (line[n.next] !== '=') return ErrorCode.InvalidStatement;
    const v = readFloat(line, n.next + 1);
    if (!v) return ErrorCode.BadNumberFormat;
    if (v.next !== line.length || n.value > 255) return ErrorCode.InvalidStatement;
    return this.p.m.settings.store(Math.trunc(n.value), v.value);
  }

  private reportParameters(): void {
    const m = this.p.m;
    const fmt = (a: Axes): string => a.map(formatCoord).join(',');
    const names = ['G54', 'G55', 'G56', 'G57', 'G58', 'G59', 'G28', 'G30'];
    names.forEach((name, i) => this.p.wire.sendLine(`[${name}:${fmt(m.coordData[i]!)}]`));
    this.p.wire.sendLine(`[G92:${fmt(m.gc.coordOffset)}]`);
    this.p.wire.sendLine(`[TLO:${formatCoord(m.gc.toolLengthOffset)}]`);
    this.p.wire.sendLine('[PRB:0.000,0.000,0.000:0]');
  }
}
