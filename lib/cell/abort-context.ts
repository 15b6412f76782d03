import { EventEmitter } from 'node:events';
import { CancelScope, abortable } from '../scope/cancel-scope';
import { Cancellation, Cancelled, EStop, describeError } from '../scope/reasons';
import { WorkcellError } from '../errors/workcell-error';
import { Run, RunResult } from '../run/run';
import { Device, DeviceHealth, StartGate } from '../device/device';
import { StopReport, acknowledgement, debtOf, endReport, stopRow } from './stop-report';
import { positiveMs, type AbortContextOptions, type CellState, type LatchChange, type StartRunOptions, type TripOptions } from './cell-options';
import { StopDebts } from './stop-debts';
import { runSafeRoutines } from './safe-routines';
import { checkStopBound, deviceToClear, isLinked, payOwedStop } from './owed-stops';
import { Hold } from './hold';
import { attachMember, detachMember, type Member, type Stopping } from './member';

export type { DeviceStopReport, StopReport } from './stop-report';
export type { AbortContextOptions, CellState, LatchChange, StartRunOptions, TripOptions } from './cell-options';
export type { StopDebtChange } from './stop-debts';

/**
 * The abort context: one per cell, an emergency-stop domain. It owns the cell's root scope
 * (renewed at every reset), its runs and its devices.
 *
 * Emergency stop (`estop`), from any state:
 *  1. every device's stop frame goes out at once, in one synchronous pass, bypassing command
 *     queues: all stop frames leave before the state changes, before any run is cancelled and
 *     before any safe routine; every trip writes them, also one while `aborting` or `aborted`;
 *  2. state `aborting`; the latch is announced (`'latch'`) so it can be stored at once;
 *  3. the root scope is cancelled with `EStop`: every run ends `aborted`, every awaiting
 *     operation resumes with the reason;
 *  4. once every stop is acknowledged or has failed (each bounded by `stopTimeoutMs`), the safe
 *     routines run shielded from the stop, group by group in ascending `safeGroup`,
 *     concurrently within a group, each bounded by `safeTimeoutMs`;
 *  5. the per-device report is emitted (`'stop-report'`) and the cell latches in `aborted`:
 *     nothing starts or moves until `reset()`.
 * `halt` is the same without step 4. A trip while aborting joins the stop under way (after
 * writing every stop frame again); a halt then cancels the safe routines still running or not
 * yet started, and the report's kind is `halt`. A trip while aborted runs the whole stop again,
 * with safe routines only for the devices not known to be safe.
 *
 * Stop debts: a device is "known stopped and safe" once its stop was acknowledged and (after an
 * emergency stop) its safe routine succeeded. Every other device owes its stop: its stop failed
 * or timed out, its safe routine failed, timed out or was cut short by a halt, its link dropped
 * while the cell was latched, or it joined a latched cell. A device that owes writes its stop
 * frame first thing when its link comes back (`Device.linkUp`); the cell then runs its safe
 * routine, and success settles the debt (`'stop-debt'`). An operator may settle one by hand
 * with `clearDevice`, which is logged with its source.
 *
 * Reset is refused, with every reason, while a trip source is active, a device reports a fault
 * it cannot clear, a device owes its stop or a device is not connected; otherwise it clears
 * device alarms and returns to `ready`.
 *
 * Hold: new steps wait at their checkpoint, and so does a step that passed its checkpoint but
 * still waits for its device; pausable devices that are busy pause; the rest finish their step.
 * Resume releases both, and resumes only the devices the hold paused. A trip always wins: a
 * hold or resume in progress when the cell trips ends with an error, never un-latches the cell,
 * and no device is resumed once a stop has begun (pause and resume take the cell's signal).
 * Cancel-run cancels one run; the devices it owns get `stop()` and, by default, `safe()`.
 *
 * Events: `'state'` {from, to, source}, `'run-start'` (Run), `'run-end'` (RunResult),
 * `'device-health'` (DeviceHealth), `'device-telemetry'` (a device's `'telemetry'` event, relayed),
 * `'stop-report'` (StopReport), `'trip-source'`, `'latch'` (LatchChange), `'stop-debt'` (StopDebtChange).
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
  private readonly debts: StopDebts;
  private readonly holding = new Hold();
  private stopping: Stopping | undefined;
  private resuming: Promise<void> | undefined;
  private lastReportValue: StopReport | undefined;
  /** The latched trip sources, in order, each with whether a redeploy caused it. */
  private latched: { source: string; redeploy: boolean }[] = [];

  constructor(options: AbortContextOptions) {
    super();
    this.name = options.name;
    this.debts = new StopDebts(this.name, (change) => this.emit('stop-debt', change));
    this.safeTimeoutMs = positiveMs('safe timeout', options.safeTimeoutMs ?? 10_000);
    this.stopTimeoutMs = positiveMs('stop timeout', options.stopTimeoutMs ?? 2_000);
    this.resetTimeoutMs = positiveMs('reset timeout', options.resetTimeoutMs ?? 10_000);
    this.root = new CancelScope({ name: `cell ${this.name}` });
    if (options.startAborted?.length) {
      this.latched = options.startAborted.map((source) => ({ source, redeploy: false }));
      this.stateValue = 'aborted';
      this.root.cancel(new EStop(this.tripSources.join(', ')));
    }
  }

  /** The sources that tripped the latched emergency stop (empty unless aborting or aborted). */
  get tripSources(): string[] {
    return this.latched.map((l) => l.source);
  }

  /** False when the latch is made only of redeploy trips (it is then not kept across a restart). */
  get latchPersistent(): boolean {
    return this.latched.some((l) => !l.redeploy);
  }

  /** Resolves when no emergency stop is in progress (at once if none is). */
  async settled(): Promise<void> {
    while (this.stopping) await this.stopping.promise.catch(() => undefined);
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

  /** Devices not known to be stopped and safe, with why (reset is refused while any is listed). */
  get unsafeDevices(): { device: string; why: string }[] {
    return this.debts.list();
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
        return `cell "${this.name}" is aborted (emergency stop by ${this.tripSources.join(', ') || 'unknown'}); reset it first`;
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
      await abortable(run ? run.scope.signal : this.root.signal, this.holding.released!);
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
    if (this.stateValue === 'held' && this.holding.released) return null;
    return run ? run.scope : this.root.child({ name: where });
  }

  /** Holds a device operation that passed its checkpoint while the cell is held (see Device's StartGate). */
  private readonly startGate: StartGate = () => (this.stateValue === 'held' ? this.holding.released : undefined);

  /**
   * Add a device to the cell. `safeGroup`: safe routines run group by group, ascending.
   * Refused, naming the device: a second device of the same name, and a device whose stop by
   * design takes more than half the cell's stop timeout (its stop would always time out).
   * A device added while the cell is aborting or aborted owes its stop (nobody knows what it did
   * meanwhile): a connected one gets it at once, one whose link is down when its link returns.
   */
  addDevice(device: Device, safeGroup = 0): void {
    if (this.members.has(device.name)) {
      throw new WorkcellError('duplicate-device', `cell "${this.name}" already has a device named "${device.name}"`, { subject: this.name, value: device.name });
    }
    checkStopBound(device, this.name, this.stopTimeoutMs);
    const member: Member = {
      device,
      safeGroup,
      linked: isLinked(device.status),
      onHealth: (h) => {
        const linked = isLinked(h.status);
        if (member.linked && !linked && this.latchedNow()) this.incur(member, `its link dropped while the cell was stopped (${h.status}${h.detail ? `: ${h.detail}` : ''})`);
        member.linked = linked;
        this.emit('device-health', h);
      },
      onFault: (f) => {
        if (f.critical) void this.estop(`critical fault on ${device.name}: ${f.fault}`).catch(() => undefined);
      },
      onTelemetry: (t) => this.emit('device-telemetry', t),
      onOwedStop: (ack) => void this.payDebt(member, ack),
    };
    attachMember(member, this.startGate);
    this.members.set(device.name, member);
    this.emit('device-health', device.health);
    if (this.latchedNow()) {
      this.incur(member, 'it joined the cell while the cell was latched');
      if (member.linked) void this.payDebt(member, device.writeStop(this.latchReason()));
    }
  }

  /** Remove a device from the cell (its config node closed). Its debt goes with it. */
  removeDevice(device: Device): void {
    const m = this.members.get(device.name);
    if (!m || m.device !== device) return;
    detachMember(m);
    this.debts.forget(device);
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
  estop(source: string, options: TripOptions = {}): Promise<StopReport> {
    return this.trip('estop', source, options.redeploy === true);
  }

  /** Emergency stop without safe routines, for when moving is itself the danger. */
  halt(source: string, options: TripOptions = {}): Promise<StopReport> {
    return this.trip('halt', source, options.redeploy === true);
  }

  private trip(kind: 'estop' | 'halt', source: string, redeploy: boolean): Promise<StopReport> {
    const t0 = performance.now();
    // Built without a stack trace: capturing one is most of the time before the first stop
    // frame (a trip runs cold), and the reason's place in our code says nothing to anyone.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    const reason = new EStop(source, kind === 'halt' ? `halt (${source})` : undefined);
    Error.stackTraceLimit = limit;
    // 1. Every stop frame first, in one synchronous pass: nothing else (not even the state
    // event, nor the abort handlers of the operations in flight) runs before every device's
    // stop has been written. Every trip writes them, whatever the state.
    const members = [...this.members.values()];
    const sent = this.writeStops(members, reason);
    const joining = this.stopping;
    const runs = joining ? [] : [...this.runs.values()];
    const from = this.stateValue;
    const wasLatched = from === 'aborted' || from === 'resetting';
    this.setState('aborting', source, from);
    this.addLatch(source, redeploy);
    this.root.cancel(reason);
    this.holding.open();
    this.holding.forgetPaused();
    if (joining) {
      // The stop under way reports; the frames written again are not waited for. A halt
      // cancels the safe routines still running or to come: their devices have just had their
      // stop again, and moving is now the danger.
      joining.sources.push(source);
      if (kind === 'halt' && joining.kind === 'estop') {
        joining.kind = 'halt';
        joining.safePhase.cancel(reason);
      }
      for (const p of sent) p.catch(() => undefined);
      return joining.promise;
    }
    // 2. Every device owes its stop until it is acknowledged (and, after an emergency stop, safe).
    const safeDue = members.map((m) => kind === 'estop' && (!wasLatched || this.debts.has(m.device)));
    for (const m of members) if (!this.debts.has(m.device)) this.incur(m, 'its stop is not yet acknowledged', kind === 'estop', true);
    const acks = sent.map((p, i) => acknowledgement(p, this.stopTimeoutMs, members[i].device.name, t0));
    const stopping: Stopping = { kind, sources: [source], safePhase: new CancelScope({ name: `cell ${this.name}: safe routines` }), promise: undefined! };
    this.stopping = stopping;
    stopping.promise = (async () => {
      const outcomes = await Promise.all(acks);
      const devices = members.map((m, i) => stopRow(m, outcomes[i]));
      if (stopping.kind === 'estop') await runSafeRoutines(members, devices, stopping.safePhase, this.safeTimeoutMs, safeDue);
      // Settle or restate each device's debt from what this stop found.
      members.forEach((m, i) => {
        if (!this.members.has(m.device.name)) return;
        const row = devices[i];
        const why = debtOf(row);
        // A link that drops from here on is a debt of its own (see addDevice's health listener);
        // one that is merely not up yet keeps reset refused without one.
        if (why) this.incur(m, why, stopping.kind === 'estop');
        else this.debts.settle(m.device, `its stop was acknowledged${row.safe === 'safe' ? ' and its safe routine succeeded' : ''}`);
      });
      const report = endReport(t0, {
        kind: stopping.kind,
        cell: this.name,
        source,
        sources: [...stopping.sources],
        runs: runs.map((r) => ({ run: r.id, sequence: r.sequence, outcome: r.result?.outcome ?? 'aborted' })),
        devices,
        unsafe: this.unsafeDevices,
      });
      this.lastReportValue = report;
      this.stopping = undefined;
      this.setState('aborted', source);
      this.emit('stop-report', report);
      return report;
    })();
    return stopping.promise;
  }

  /** Pay a member's owed stop (see `payOwedStop`). */
  private payDebt(m: Member, ack: Promise<void>): Promise<void> {
    return payOwedStop(
      {
        device: m.device,
        debts: this.debts,
        stopTimeoutMs: this.stopTimeoutMs,
        safeTimeoutMs: this.safeTimeoutMs,
        settled: () => this.settled(),
        stillMember: () => this.members.get(m.device.name) === m,
        incur: (why) => this.incur(m, why),
      },
      ack,
    );
  }

  /**
   * An operator made one device safe by hand: settle its stop debt, logged (`'stop-debt'`) with
   * `source`. Only while the cell is aborted, only for a device that owes, and never for one
   * that is not connected (its stop goes out when its link returns; reset waits for that).
   */
  clearDevice(name: unknown, source: string): void {
    const { device, owed } = deviceToClear(this.name, this.stateValue, name, this.members, this.debts);
    this.debts.settle(device, `cleared by hand (it owed: ${owed})`, source);
  }

  /**
   * Reset after an emergency stop: refused (with every reason) while a trip source is active, a
   * device reports a fault it cannot clear, a device owes its stop or is not connected;
   * otherwise clears device alarms (each bounded by `resetTimeoutMs`) and returns to `ready`
   * with a fresh root scope. A device whose alarm does not clear leaves the cell aborted and the
   * error names it. A trip during the reset wins: the reset fails and the cell stays latched.
   */
  async reset(source: string): Promise<void> {
    if (this.stateValue !== 'aborted') {
      throw new WorkcellError('not-aborted', `cannot reset cell "${this.name}": it is ${this.stateValue}, not aborted`, { subject: this.name, operation: 'reset' });
    }
    const reasons = [...this.trips.entries()].map(([id, detail]) => `trip source ${id} is still active (${detail})`);
    for (const m of this.members.values()) {
      const d = m.device;
      const fault = d.activeFault();
      if (fault) reasons.push(`device ${d.name} is still in fault (${fault})`);
      const debt = this.debts.get(d);
      if (debt) reasons.push(`device ${d.name} is not known to be stopped and safe: ${debt.why}`);
      else if (!isLinked(d.status)) reasons.push(`device ${d.name} is ${d.status}${d.health.detail ? ` (${d.health.detail})` : ''}`);
    }
    if (reasons.length) {
      throw new WorkcellError('reset-refused', `cannot reset cell "${this.name}": ${reasons.join('; ')}`, { subject: this.name, operation: 'reset' });
    }
    this.setState('resetting', source);
    const members = [...this.members.values()];
    const results = await Promise.allSettled(
      members.map((m) => new CancelScope({ name: `${m.device.name}: reset`, timeoutMs: this.resetTimeoutMs, onDeadline: 'fail' }).run((s) => m.device.reset(s.signal))),
    );
    if ((this.stateValue as CellState) !== 'resetting') {
      throw new WorkcellError('reset-interrupted', `cannot reset cell "${this.name}": an emergency stop (${this.tripSources.join(', ')}) tripped during the reset`, {
        subject: this.name,
        operation: 'reset',
      });
    }
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`${members[i].device.name}: ${describeError(r.reason)}`] : []));
    // A device that lost its link while its alarms were cleared owes its stop again.
    for (const u of this.debts.list()) failures.push(`device ${u.device} is not known to be stopped and safe: ${u.why}`);
    if (failures.length) {
      this.setState('aborted', source);
      throw new WorkcellError('reset-failed', `cannot reset cell "${this.name}": ${failures.join('; ')}`, { subject: this.name, operation: 'reset' });
    }
    this.root = new CancelScope({ name: `cell ${this.name}` });
    this.latched = [];
    this.setState('ready', source);
    this.emitLatch();
    this.settleRunningState();
  }

  /**
   * Hold: new steps wait at their checkpoint; busy pausable devices pause. Only from ready or
   * running. A trip while the devices pause wins: the hold ends with an error, the cell stays
   * latched.
   */
  async hold(source: string): Promise<void> {
    if (this.stateValue === 'held') return;
    if (this.stateValue !== 'ready' && this.stateValue !== 'running') {
      throw new WorkcellError('cannot-hold', `cannot hold cell "${this.name}": it is ${this.stateValue}`, { subject: this.name, operation: 'hold' });
    }
    this.holding.close();
    this.setState('held', source);
    await this.holding.pause([...this.members.values()].map((m) => m.device), this.root.signal);
    this.throwIfTripped('hold');
  }

  /**
   * Resume after a hold: paused devices resume, then waiting steps go on. A trip while the
   * devices resume wins: no device is resumed once the stop has begun, the resume ends with an
   * error and the cell stays latched. A second resume while one is under way joins it.
   */
  resume(source: string): Promise<void> {
    if (this.resuming) return this.resuming;
    if (this.stateValue !== 'held') {
      return Promise.reject(
        new WorkcellError('cannot-resume', `cannot resume cell "${this.name}": it is ${this.stateValue}, not held`, { subject: this.name, operation: 'resume' }),
      );
    }
    const resuming = (async () => {
      try {
        await this.holding.resume((d) => this.members.get(d.name)?.device === d, this.root.signal);
        this.throwIfTripped('resume');
        this.holding.open();
        this.setState(this.runs.size ? 'running' : 'ready', source);
      } finally {
        this.resuming = undefined;
      }
    })();
    this.resuming = resuming;
    return resuming;
  }

  /** After a hold or resume awaited its devices: a trip meanwhile has won. */
  private throwIfTripped(action: 'hold' | 'resume'): void {
    if (this.stateValue === 'held') return;
    if (action === 'hold' && (this.stateValue === 'ready' || this.stateValue === 'running')) return; // resumed meanwhile
    throw new WorkcellError(`${action}-interrupted`, `${action} of cell "${this.name}" interrupted: the cell tripped (${this.tripSources.join(', ') || this.stateValue}); it stays latched until a reset`, {
      subject: this.name,
      operation: action,
    });
  }

  /**
   * Cancel one run with `Cancelled`. The devices it owns get `stop()` and, unless `safe` is false,
   * their safe routine (shielded, bounded); they are released to other runs only afterwards.
   * The run has ended (its `'end'` emitted, the cell's `'run-end'` too) before this returns its
   * promise: `cancel-previous` and a redeploy's delivery of outcomes rely on that.
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
      const sent = this.writeStops(owned, reason);
      run.cancel(reason);
      const outcomes = await Promise.all(sent.map((p, i) => acknowledgement(p, this.stopTimeoutMs, owned[i].device.name, t0)));
      const devices = owned.map((m, i) => stopRow(m, outcomes[i]));
      if (safe) await runSafeRoutines(owned, devices, new CancelScope({ name: `run ${runId}: safe routines` }), this.safeTimeoutMs);
      const report = endReport(t0, {
        kind: 'cancel',
        cell: this.name,
        source,
        sources: [source],
        runs: [{ run: run.id, sequence: run.sequence, outcome: run.result?.outcome ?? 'cancelled' }],
        devices,
        unsafe: [],
      });
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

  /** The device owes its stop (see `StopDebts.incur`); a debt recorded while only halts latched the cell needs no safe routine. */
  private incur(m: Member, why: string, needsSafe = this.debts.get(m.device)?.needsSafe ?? !this.latchIsHalt(), quiet = false): void {
    this.debts.incur(m.device, why, needsSafe, this.latchReason(), quiet);
  }

  /** The cell is latched: an emergency stop has begun and no reset has completed. */
  private latchedNow(): boolean {
    return this.stateValue === 'aborting' || this.stateValue === 'aborted' || this.stateValue === 'resetting';
  }

  /** Only halts latched the cell: settling a debt then needs no safe routine. */
  private latchIsHalt(): boolean {
    return this.stopping?.kind === 'halt' || this.lastReportValue?.kind === 'halt';
  }

  private latchReason(): EStop {
    return (this.root.reason instanceof EStop ? this.root.reason : undefined) ?? new EStop(this.tripSources.join(', ') || 'latched');
  }

  private addLatch(source: string, redeploy: boolean): void {
    const known = this.latched.find((l) => l.source === source);
    if (known) known.redeploy &&= redeploy;
    else this.latched.push({ source, redeploy });
    this.emitLatch();
  }

  private emitLatch(): void {
    this.emit('latch', { cell: this.name, sources: this.tripSources, persistent: this.latchPersistent } satisfies LatchChange);
  }

  private releaseDevices(runId: string): void {
    for (const m of this.members.values()) m.device.release(runId);
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
   * promise is that device's acknowledgement.
   */
  private writeStops(members: Member[], reason: Cancellation): Promise<void>[] {
    const sent = members.map((m) => m.device.writeStop(reason));
    for (const m of members) m.device.abortOperations(reason);
    return sent;
  }
}
