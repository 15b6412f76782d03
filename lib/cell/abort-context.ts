import { EventEmitter } from 'node:events';
import { CancelScope, abortable, shielded } from '../scope/cancel-scope';
import { Cancellation, Cancelled, EStop, describeError } from '../scope/reasons';
import { WorkcellError } from '../errors/workcell-error';
import { BranchPolicy, Run, RunResult } from '../run/run';
import { Device, DeviceHealth, isPausable } from '../device/device';

/** The cell's states (PackML-like): ready → running ⇄ held; from anywhere aborting → aborted (latched) → resetting → ready. */
export type CellState = 'ready' | 'running' | 'held' | 'aborting' | 'aborted' | 'resetting';

/** How one device fared in an emergency stop, halt or cancel. */
export interface DeviceStopReport {
  device: string;
  stop: 'stopped' | 'failed' | 'timed-out';
  safe: 'safe' | 'failed' | 'timed-out' | 'skipped';
  safeGroup: number;
  error: string | null;
  stopMs: number;
  safeMs: number | null;
}

/** The record of an emergency stop or halt. */
export interface StopReport {
  kind: 'estop' | 'halt' | 'cancel';
  cell: string;
  source: string;
  at: number;
  durationMs: number;
  runs: { run: string; sequence: string; outcome: string }[];
  devices: DeviceStopReport[];
}

export interface AbortContextOptions {
  name: string;
  /** Bound on each device's safe routine, ms. */
  safeTimeoutMs?: number;
  /** Bound on each device's stop acknowledgement, ms. */
  stopTimeoutMs?: number;
  /** Bound on each device's alarm clearing during reset, ms. */
  resetTimeoutMs?: number;
  /**
   * Start latched in `aborted`, tripped by these sources: an emergency stop survives the
   * restart of the cell's node (a redeploy) and still needs an explicit reset.
   */
  startAborted?: string[];
}

export interface StartRunOptions {
  sequence: string;
  timeoutMs?: number;
  policy?: BranchPolicy;
}

interface Member {
  device: Device;
  safeGroup: number;
  onHealth: (h: DeviceHealth) => void;
  onFault: (f: { fault: string; critical: boolean }) => void;
  onTelemetry: (t: Record<string, unknown>) => void;
}

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

/**
 * The abort context: one per cell, an emergency-stop domain. It owns the cell's root scope
 * (renewed at every reset), its runs and its devices.
 *
 * Emergency stop (`estop`), from any state:
 *  1. state `aborting`;
 *  2. every device's `stop()` goes out at once, in one synchronous pass, bypassing command
 *     queues: all stop frames leave before any run is cancelled and before any safe routine;
 *  3. the root scope is cancelled with `EStop`: every run ends `aborted`, every awaiting
 *     operation resumes with the reason;
 *  4. once every stop is acknowledged (each bounded by `stopTimeoutMs`), the safe routines run
 *     shielded, group by group in ascending `safeGroup`, concurrently within a group, each
 *     bounded by `safeTimeoutMs`;
 *  5. the per-device report is emitted (`'stop-report'`) and the cell latches in `aborted`:
 *     nothing starts or moves until `reset()`.
 * `halt` is the same without step 4. A trip while already aborting joins the stop under way;
 * a trip while aborted sends every stop again and latches the new source.
 *
 * Reset is refused, with every reason, while a trip source is active or a device reports a
 * fault it cannot clear; otherwise it clears device alarms and returns to `ready`.
 *
 * Hold: new steps wait at their checkpoint; pausable devices that are busy pause; the rest finish
 * their step. Resume releases both, and resumes only the devices the hold paused. Cancel-run cancels one run; the devices it owns get `stop()`
 * and, by default, `safe()`.
 *
 * Events: `'state'` {from, to, source}, `'run-start'` (Run), `'run-end'` (RunResult),
 * `'device-health'` (DeviceHealth), `'device-telemetry'` (a device's `'telemetry'` event, relayed),
 * `'stop-report'` (StopReport), `'trip-source'`.
 */
export class AbortContext extends EventEmitter {
  readonly name: string;
  readonly safeTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly resetTimeoutMs: number;
  private stateValue: CellState = 'ready';
  private root: CancelScope;
  private readonly runs = new Map<string, Run>();
  private readonly members = new Map<string, Member>();
  private readonly trips = new Map<string, string>();
  private readonly safing = new Set<string>();
  private holdGate: Gate | undefined;
  /** Devices the current hold paused; an emergency stop's stop() supersedes their pause. */
  private readonly pausedByHold = new Set<Device>();
  private stopping: Promise<StopReport> | undefined;
  private lastReportValue: StopReport | undefined;
  private latchedSources: string[] = [];

  constructor(options: AbortContextOptions) {
    super();
    this.name = options.name;
    this.safeTimeoutMs = options.safeTimeoutMs ?? 10_000;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 2_000;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 10_000;
    this.root = new CancelScope({ name: `cell ${this.name}` });
    if (options.startAborted?.length) {
      this.latchedSources = [...options.startAborted];
      this.stateValue = 'aborted';
      this.root.cancel(new EStop(this.latchedSources.join(', ')));
    }
  }

  /** The sources that tripped the latched emergency stop (empty unless aborting or aborted). */
  get tripSources(): string[] {
    return [...this.latchedSources];
  }

  /** Resolves when no emergency stop is in progress (at once if none is). */
  async settled(): Promise<void> {
    if (this.stopping) await this.stopping.catch(() => undefined);
  }

  get state(): CellState {
    return this.stateValue;
  }

  /** The report of the last emergency stop, halt or cancel. */
  get lastReport(): StopReport | undefined {
    return this.lastReportValue;
  }

  /** Active trip sources by id, with what they say. */
  get activeTrips(): Record<string, string> {
    return Object.fromEntries(this.trips);
  }

  /** Runs in progress. */
  get activeRuns(): Run[] {
    return [...this.runs.values()];
  }

  /** The cell's devices' health. */
  get devices(): DeviceHealth[] {
    return [...this.members.values()].map((m) => m.device.health);
  }

  /** A run of this cell by id (only while it is in progress). */
  getRun(id: string): Run | undefined {
    return this.runs.get(id);
  }

  /** Why nothing may start now, or null. */
  private refusal(): string | null {
    switch (this.stateValue) {
      case 'aborting':
        return `cell "${this.name}" is stopping`;
      case 'aborted':
        return `cell "${this.name}" is aborted (emergency stop by ${this.latchedSources.join(', ') || 'unknown'}); reset it first`;
      case 'resetting':
        return `cell "${this.name}" is resetting`;
      default:
        return null;
    }
  }

  /** Start a run. Refused while aborting, aborted or resetting. */
  startRun(options: StartRunOptions): Run {
    const refusal = this.refusal();
    if (refusal) throw new WorkcellError('cell-aborted', `cannot start sequence "${options.sequence}": ${refusal}`, { subject: this.name, operation: 'start' });
    const run = new Run({ sequence: options.sequence, parent: this.root, timeoutMs: options.timeoutMs, policy: options.policy, onEnd: this.onRunEnd });
    this.runs.set(run.id, run);
    this.emit('run-start', run);
    this.settleRunningState();
    return run;
  }

  /** A run of this cell ended (called by the run before its 'end' listeners): one function for every run. */
  private readonly onRunEnd = (result: RunResult): void => {
    this.runs.delete(result.run);
    if (!this.safing.has(result.run)) this.releaseDevices(result.run);
    this.emit('run-end', result);
    this.settleRunningState();
  };

  /**
   * A checkpoint (every workcell node's input is one). Resolves with the scope the work should
   * run under: the run's scope, or for work outside any run a fresh child of the cell's root,
   * so an emergency stop and hold reach it too (the caller closes that scope when done).
   * Waits while the cell is held; throws the run's end reason if the run has ended, and a clear
   * error if the cell is aborted or the run is unknown.
   */
  async checkpoint(runId: string | undefined, where: string): Promise<CancelScope> {
    for (;;) {
      const scope = this.checkpointNow(runId, where);
      if (scope) return scope;
      const run = runId === undefined ? undefined : this.runs.get(runId);
      await abortable(run ? run.scope.signal : this.root.signal, this.holdGate!.promise);
    }
  }

  /**
   * The same checkpoint, synchronously, for the hot path: returns the scope as `checkpoint()`
   * would resolve it, or null when the cell is held (then await `checkpoint()` to wait). Throws
   * exactly what `checkpoint()` rejects with.
   */
  checkpointNow(runId: string | undefined, where: string): CancelScope | null {
    const refusal = this.refusal();
    if (refusal) {
      throw new WorkcellError('cell-aborted', `${where}: refused: ${refusal}`, { subject: this.name, operation: where, cause: this.root.reason });
    }
    let run: Run | undefined;
    if (runId !== undefined) {
      run = this.runs.get(runId);
      if (!run) {
        throw new WorkcellError('unknown-run', `${where}: run ${JSON.stringify(runId)} is not in progress in cell "${this.name}" (it has ended, or belongs to another cell)`, {
          subject: this.name,
          operation: where,
          value: runId,
        });
      }
      run.throwIfEnded();
    }
    if (this.stateValue === 'held' && this.holdGate) return null;
    return run ? run.scope : this.root.child({ name: where });
  }

  /** Add a device to the cell. `safeGroup`: safe routines run group by group, ascending. */
  addDevice(device: Device, safeGroup = 0): void {
    if (this.members.has(device.name)) {
      throw new WorkcellError('duplicate-device', `cell "${this.name}" already has a device named "${device.name}"`, { subject: this.name, value: device.name });
    }
    const onHealth = (h: DeviceHealth) => this.emit('device-health', h);
    const onFault = (f: { fault: string; critical: boolean }) => {
      if (f.critical) void this.estop(`critical fault on ${device.name}: ${f.fault}`).catch(() => undefined);
    };
    const onTelemetry = (t: Record<string, unknown>) => this.emit('device-telemetry', t);
    device.on('health', onHealth);
    device.on('fault', onFault);
    device.on('telemetry', onTelemetry);
    this.members.set(device.name, { device, safeGroup, onHealth, onFault, onTelemetry });
    this.emit('device-health', device.health);
  }

  /** Remove a device from the cell (its config node closed). */
  removeDevice(device: Device): void {
    const m = this.members.get(device.name);
    if (!m || m.device !== device) return;
    device.off('health', m.onHealth);
    device.off('fault', m.onFault);
    device.off('telemetry', m.onTelemetry);
    this.members.delete(device.name);
  }

  /**
   * Mark a trip source active or clear it. Activating one trips an emergency stop (or a halt)
   * unless the cell is already aborted; while any is active, reset is refused with its detail.
   */
  setTripSource(id: string, active: boolean, detail = id, kind: 'estop' | 'halt' = 'estop'): Promise<StopReport> | undefined {
    const was = this.trips.has(id);
    if (active) this.trips.set(id, detail);
    else this.trips.delete(id);
    if (was !== active) this.emit('trip-source', { id, active, detail });
    // Already latched: the source blocks reset (above) but does not trip again.
    if (!active || this.stateValue === 'aborted') return undefined;
    return kind === 'halt' ? this.halt(`${id}: ${detail}`) : this.estop(`${id}: ${detail}`);
  }

  /** Emergency stop. See the class comment. */
  estop(source: string): Promise<StopReport> {
    return this.trip('estop', source);
  }

  /** Emergency stop without safe routines, for when moving is itself the danger. */
  halt(source: string): Promise<StopReport> {
    return this.trip('halt', source);
  }

  private trip(kind: 'estop' | 'halt', source: string): Promise<StopReport> {
    if (!this.latchedSources.includes(source)) this.latchedSources.push(source);
    if (this.stopping) return this.stopping;
    // A second trip while latched reaches every device again, but the safe routines have run.
    const safeRoutines = kind === 'estop' && this.stateValue !== 'aborted';
    const reason = new EStop(source, kind === 'halt' ? `halt (${source})` : undefined);
    const at = Date.now();
    const t0 = performance.now();
    const from = this.stateValue;
    // 1. Stop frames first, in one synchronous pass: nothing else (not even the state event,
    // nor the abort handlers of the operations in flight) runs before every device's stop has
    // been written.
    const members = [...this.members.values()];
    const stops = this.stopAll(members, reason);
    this.setState('aborting', source, from);
    this.openHold();
    this.pausedByHold.clear();
    // 2. Cancel everything that runs in the cell.
    const runs = [...this.runs.values()];
    this.root.cancel(reason);
    this.stopping = (async () => {
      const stopResults = await Promise.allSettled(stops);
      const devices: DeviceStopReport[] = members.map((m, i) => {
        const r = stopResults[i];
        return {
          device: m.device.name,
          stop: r.status === 'fulfilled' ? 'stopped' : isTimeout(r.reason) ? 'timed-out' : 'failed',
          safe: 'skipped',
          safeGroup: m.safeGroup,
          error: r.status === 'rejected' ? describeError(r.reason) : null,
          stopMs: r.status === 'fulfilled' ? r.value : this.stopTimeoutMs,
          safeMs: null,
        };
      });
      if (safeRoutines) await this.runSafeRoutines(members, devices);
      const report: StopReport = {
        kind,
        cell: this.name,
        source,
        at,
        durationMs: round(performance.now() - t0),
        runs: runs.map((r) => ({ run: r.id, sequence: r.sequence, outcome: r.result?.outcome ?? 'aborted' })),
        devices,
      };
      this.lastReportValue = report;
      this.stopping = undefined;
      this.setState('aborted', source);
      this.emit('stop-report', report);
      return report;
    })();
    return this.stopping;
  }

  /** Safe routines group by group (ascending), concurrently within a group, each shielded and bounded. */
  private async runSafeRoutines(members: Member[], report: DeviceStopReport[]): Promise<void> {
    const groups = [...new Set(members.map((m) => m.safeGroup))].sort((a, b) => a - b);
    for (const group of groups) {
      await Promise.all(
        members.map(async (m, i) => {
          if (m.safeGroup !== group) return;
          const t = performance.now();
          try {
            await shielded(`${m.device.name}: safe`, this.safeTimeoutMs, (scope) => m.device.safe(scope.signal));
            report[i].safe = 'safe';
          } catch (err) {
            report[i].safe = isTimeout(err) ? 'timed-out' : 'failed';
            report[i].error = describeError(err);
          }
          report[i].safeMs = round(performance.now() - t);
        }),
      );
    }
  }

  /**
   * Reset after an emergency stop: refused (with every reason) while a trip source is active or
   * a device reports a fault it cannot clear; otherwise clears device alarms (each bounded by
   * `resetTimeoutMs`) and returns to `ready` with a fresh root scope. A device whose alarm does
   * not clear leaves the cell aborted and the error names it.
   */
  async reset(source: string): Promise<void> {
    if (this.stateValue !== 'aborted') {
      throw new WorkcellError('not-aborted', `cannot reset cell "${this.name}": it is ${this.stateValue}, not aborted`, { subject: this.name, operation: 'reset' });
    }
    const reasons = [...this.trips.entries()].map(([id, detail]) => `trip source ${id} is still active (${detail})`);
    for (const m of this.members.values()) {
      const fault = m.device.activeFault();
      if (fault) reasons.push(`device ${m.device.name} is still in fault (${fault})`);
    }
    if (reasons.length) {
      throw new WorkcellError('reset-refused', `cannot reset cell "${this.name}": ${reasons.join('; ')}`, { subject: this.name, operation: 'reset' });
    }
    this.setState('resetting', source);
    const members = [...this.members.values()];
    const results = await Promise.allSettled(members.map((m) => shielded(`${m.device.name}: reset`, this.resetTimeoutMs, (scope) => m.device.reset(scope.signal))));
    if ((this.stateValue as CellState) !== 'resetting') {
      // A trip arrived while the alarms were being cleared: it wins, the cell stays latched.
      throw new WorkcellError('reset-interrupted', `cannot reset cell "${this.name}": an emergency stop (${this.latchedSources.join(', ')}) tripped during the reset`, {
        subject: this.name,
        operation: 'reset',
      });
    }
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${members[i].device.name}: ${describeError(r.reason)}`] : []));
    if (failures.length) {
      this.setState('aborted', source);
      throw new WorkcellError('reset-failed', `cannot reset cell "${this.name}": ${failures.join('; ')}`, { subject: this.name, operation: 'reset' });
    }
    this.root = new CancelScope({ name: `cell ${this.name}` });
    this.latchedSources = [];
    this.setState('ready', source);
    this.settleRunningState();
  }

  /** Hold: new steps wait at their checkpoint; busy pausable devices pause. Only from ready or running. */
  async hold(source: string): Promise<void> {
    if (this.stateValue === 'held') return;
    if (this.stateValue !== 'ready' && this.stateValue !== 'running') {
      throw new WorkcellError('cannot-hold', `cannot hold cell "${this.name}": it is ${this.stateValue}`, { subject: this.name, operation: 'hold' });
    }
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.holdGate = { promise, open };
    this.setState('held', source);
    await this.forPausable('pause');
  }

  /** Resume after a hold: paused devices resume and waiting steps go on. */
  async resume(source: string): Promise<void> {
    if (this.stateValue !== 'held') {
      throw new WorkcellError('cannot-resume', `cannot resume cell "${this.name}": it is ${this.stateValue}, not held`, { subject: this.name, operation: 'resume' });
    }
    await this.forPausable('resume');
    this.openHold();
    this.setState(this.runs.size ? 'running' : 'ready', source);
  }

  /**
   * Cancel one run with `Cancelled`. The devices it owns get `stop()` and, unless `safe` is false,
   * their safe routine (shielded, bounded); they are released to other runs only afterwards.
   */
  async cancelRun(runId: string, source: string, safe = true, reason: Cancellation = new Cancelled(source)): Promise<StopReport> {
    const run = this.runs.get(runId);
    if (!run) {
      throw new WorkcellError('unknown-run', `cannot cancel run ${JSON.stringify(runId)}: it is not in progress in cell "${this.name}"`, {
        subject: this.name,
        operation: 'cancel',
        value: runId,
      });
    }
    const t0 = performance.now();
    const owned = [...this.members.values()].filter((m) => m.device.owner === runId);
    this.safing.add(runId);
    try {
      const stops = this.stopAll(owned, reason);
      run.cancel(reason);
      const stopResults = await Promise.allSettled(stops);
      const devices: DeviceStopReport[] = owned.map((m, i) => ({
        device: m.device.name,
        stop: stopResults[i].status === 'fulfilled' ? 'stopped' : isTimeout((stopResults[i] as PromiseRejectedResult).reason) ? 'timed-out' : 'failed',
        safe: 'skipped',
        safeGroup: m.safeGroup,
        error: stopResults[i].status === 'rejected' ? describeError((stopResults[i] as PromiseRejectedResult).reason) : null,
        stopMs: stopResults[i].status === 'fulfilled' ? (stopResults[i] as PromiseFulfilledResult<number>).value : this.stopTimeoutMs,
        safeMs: null,
      }));
      if (safe) await this.runSafeRoutines(owned, devices);
      const report: StopReport = {
        kind: 'cancel',
        cell: this.name,
        source,
        at: Date.now(),
        durationMs: round(performance.now() - t0),
        runs: [{ run: run.id, sequence: run.sequence, outcome: run.result?.outcome ?? 'cancelled' }],
        devices,
      };
      this.lastReportValue = report;
      this.emit('stop-report', report);
      return report;
    } finally {
      this.safing.delete(runId);
      this.releaseDevices(runId);
    }
  }

  /** Cancel every run (e.g. on redeploy) with `reason`, without latching the cell. */
  cancelAllRuns(reason: Cancellation): void {
    for (const run of [...this.runs.values()]) run.cancel(reason);
  }

  /** Pause the busy pausable devices and remember them: resume wakes only what the hold paused. */
  private async forPausable(action: 'pause' | 'resume'): Promise<void> {
    let targets: Device[];
    if (action === 'pause') {
      targets = [...this.members.values()].map((m) => m.device).filter((d) => isPausable(d) && d.status === 'busy');
      for (const d of targets) this.pausedByHold.add(d);
    } else {
      targets = [...this.pausedByHold].filter((d) => [...this.members.values()].some((m) => m.device === d));
      this.pausedByHold.clear();
    }
    await Promise.allSettled(targets.map((d) => (isPausable(d) ? d[action](this.root.signal) : undefined)));
  }

  private releaseDevices(runId: string): void {
    for (const m of this.members.values()) m.device.release(runId);
  }

  private openHold(): void {
    const gate = this.holdGate;
    this.holdGate = undefined;
    gate?.open();
  }

  private settleRunningState(): void {
    if (this.stateValue === 'ready' && this.runs.size > 0) this.setState('running', 'run started');
    else if (this.stateValue === 'running' && this.runs.size === 0) this.setState('ready', 'runs ended');
  }

  private setState(to: CellState, source: string, from: CellState = this.stateValue): void {
    if (to === this.stateValue && from === this.stateValue) return;
    this.stateValue = to;
    // 'ready' -> 'running' -> 'ready' happens twice per run: no event object when nobody listens.
    if (this.listenerCount('state') > 0) this.emit('state', { cell: this.name, from, to, source });
  }

  /**
   * Every member's stop frame in one synchronous pass (frames only), then each device's queue is
   * aborted: no operation's cancellation handler runs before the last frame is written. Each
   * result resolves with the stop's acknowledgement time in ms, or rejects on error or after
   * `stopTimeoutMs`.
   */
  private stopAll(members: Member[], reason: Cancellation): Promise<number>[] {
    const t = performance.now();
    const sent = members.map((m) => m.device.writeStop(reason));
    for (const m of members) m.device.abortOperations(reason);
    return members.map((m, i) => this.timed(() => sent[i], this.stopTimeoutMs, `${m.device.name}: stop`, t));
  }

  /** Call `fn` now (synchronously), resolve with its duration in ms (from `t`), reject on error or after `ms`. */
  private timed(fn: () => Promise<void>, ms: number, what: string, t = performance.now()): Promise<number> {
    let p: Promise<void>;
    try {
      p = fn();
    } catch (err) {
      p = Promise.reject(err);
    }
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StopTimeout(what, ms)), ms);
      p.then(
        () => {
          clearTimeout(timer);
          resolve(round(performance.now() - t));
        },
        (err) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
  }
}

class StopTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`${what} not acknowledged within ${ms} ms`);
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof StopTimeout || (err instanceof Error && err.name === 'Timeout');
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
