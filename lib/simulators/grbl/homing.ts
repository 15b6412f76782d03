/**
 * The `$H` homing cycle: Z first, then X and Y together, each a seek, a pull-off, a slow locate
 * and a pull-off, with the debounce delay after each; it ends at `max - pullOff` on every axis
 * with the position trusted. The cycle takes the time those moves take at $25/$24 (scaled by
 * `timeScale`); switches are not modelled, so it cannot fail. A `?` during the cycle is answered
 * when every axis is homed, before the `ok`, as `<Home|…>` at the pulled-off position: the
 * firmware's homing loop leaves no time for real-time requests until then.
 */
import type { Axes } from './gcode-parser';
import type { Job } from './machine';
import type { Parts } from './parts';

export class Homing {
  constructor(private readonly p: Parts) {}

  /** Advances the cycle of `job`. @returns true once the machine is homed. */
  run(job: Job): boolean {
    const m = this.p.m;
    const s = m.settings;
    const h = { seek: s.get(25), feed: s.get(24), pullOff: s.get(27), debounce: s.get(26) };
    const home: Axes = [0, 1, 2].map((i) => s.travel(i).max - h.pullOff) as Axes;
    if (job.waitUntil === null) {
      let minutes = 0;
      for (const axes of [[2], [0, 1]]) {
        const seek = Math.max(...axes.map((i) => Math.abs(s.travel(i).max - m.pos[i]!)));
        minutes += seek / h.seek + (2 * h.pullOff) / h.seek + h.pullOff / h.feed;
      }
      const ms = minutes * 60_000 + 8 * h.debounce;
      job.waitUntil = m.clock + ms / m.options.timeScale;
      return false;
    }
    if (m.clock < job.waitUntil) return false;
    job.waitUntil = null;
    m.pos = home;
    m.plannerPos = [...home];
    m.gc.position = [...home];
    m.homed = true;
    m.trusted = true;
    m.alarmCode = null;
    // The firmware services real-time requests only once every axis is homed, still in Home.
    if (m.pendingStatus) {
      m.pendingStatus = false;
      this.p.wire.sendLine(this.p.status.report());
    }
    m.sys = 'Idle';
    job.afterOk = () => this.p.reset.queueStartupLines();
    return true;
  }
}
