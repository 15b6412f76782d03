import { EventEmitter } from 'node:events';
import { abortable } from '../scope/cancel-scope';
import { Cancellation } from '../scope/reasons';
import { WorkcellError, showValue } from '../errors/workcell-error';
import { CommandQueue, QueueJob, QueueTask } from './command-queue';
import { OperationSpec, OperationTable, findOperation, validateParams } from './operations';

/** A device connection's lifecycle. */
export type DeviceStatus = 'connecting' | 'ready' | 'busy' | 'fault' | 'disconnected';

/** When a run's step needs a device another run holds: wait for it, or fail at once. */
export type OwnershipMode = 'wait' | 'fail-fast';

/** A device's health as plain data (what `cell status` emits and the editor shows). */
export interface DeviceHealth {
  device: string;
  kind: string;
  status: DeviceStatus;
  detail: string;
  /** A fault condition reset cannot clear while it lasts (an interlock open, a sensor break), or null. */
  fault: string | null;
  /** False when the device can no longer trust its position and refuses moves until homed. */
  positionTrusted: boolean | undefined;
  owner: string | null;
}

/** Progress of a long operation (a G-code program, a ramp). */
export interface Progress {
  fraction?: number;
  text: string;
}

/**
 * What an operation runs with: the run's (or the cell's) signal, the run that owns it, a progress
 * sink. The context `perform` gets has `signal` as an accessor (the job's signal is created when
 * first read): read its properties rather than copying the object with a spread.
 */
export interface OperationContext {
  signal: AbortSignal;
  runId?: string;
  onProgress?: (progress: Progress) => void;
}

export interface DeviceOptions {
  name: string;
  ownership?: OwnershipMode;
  /** A fault on a critical device trips the cell's emergency stop. */
  critical?: boolean;
}

/**
 * Capability: a device that can pause its current operation and resume it (feed hold, program
 * pause). Both take a signal: once it fires (the cell's emergency stop has begun) the device
 * writes nothing more for the pause or resume in progress — above all never its resume command
 * (GRBL `~`) — and the promise settles promptly.
 */
export interface Pausable {
  pause(signal: AbortSignal): Promise<void>;
  resume(signal: AbortSignal): Promise<void>;
}

/**
 * Holds an operation that has passed its checkpoint but not yet started on the device (it waited
 * for the device's owner or queue) while the cell is held: undefined to go on now, or a promise
 * that resolves when the hold is released. (No signal is handed in: reading a job's signal
 * creates it, and the common case, a cell not held, must not pay for that.)
 */
export type StartGate = () => Promise<void> | undefined;

/** True when `device` can pause (bluesky's `Pausable`: the engine asks, the device declares). */
export function isPausable(device: Device): device is Device & Pausable {
  return typeof (device as Partial<Pausable>).pause === 'function' && typeof (device as Partial<Pausable>).resume === 'function';
}

/**
 * The device contract every driver implements, and the machinery they share (one way to do a
 * thing): a serialized command queue whose stop lane bypasses it, ownership by a run,
 * validation of parameters against the declared operation table and limits checked before a
 * byte is sent, lifecycle status and telemetry as events.
 *
 * Events: `'health'` (DeviceHealth, on every change), `'telemetry'` (readings), `'fault'`,
 * `'owed-stop'` (the acknowledgement promise of a stop written by `linkUp`).
 * A driver implements `perform`, `sendStop` and `safe`, and overrides `checkLimits`,
 * `onOperationAborted`, `reset` and `activeFault` where its device has them.
 */
export abstract class Device extends EventEmitter {
  abstract readonly kind: string;
  abstract readonly operations: OperationTable;
  readonly name: string;
  ownership: OwnershipMode;
  critical: boolean;
  protected readonly queue: CommandQueue;
  private statusValue: DeviceStatus = 'disconnected';
  private detailValue = '';
  private faultValue: string | null = null;
  private trusted: boolean | undefined = undefined;
  private ownerValue: string | null = null;
  private readonly ownerWaiters: (() => void)[] = [];
  private indexedTable: OperationTable | undefined;
  private operationIndex: Map<string, OperationSpec> | undefined;
  /** True while `stop()` aborts the queue, so per-operation abort handlers know a stop is already on the wire. */
  protected stopping = false;
  /**
   * How many stop frames `writeStop` has been asked for. A driver reads it before a pause or
   * resume and again just before it writes: a change means a stop has begun meanwhile.
   */
  protected stopCount = 0;
  /** The stop this device owes (see `oweStop`), or null. */
  private owedStop: Cancellation | null = null;
  private startGate: StartGate | undefined;

  constructor(options: DeviceOptions) {
    super();
    this.name = options.name;
    this.ownership = options.ownership ?? 'wait';
    this.critical = options.critical ?? false;
    this.queue = new CommandQueue(options.name);
    // Every action node of the device listens to its health: many listeners is normal, not a leak.
    this.setMaxListeners(0);
  }

  get status(): DeviceStatus {
    return this.statusValue;
  }

  get owner(): string | null {
    return this.ownerValue;
  }

  get positionTrusted(): boolean | undefined {
    return this.trusted;
  }

  /**
   * The longest the device's stop may take to be acknowledged by design (a gantry's
   * emergency-stop hold before its reset), ms; 0 when it acknowledges as soon as the device
   * answers. A cell refuses a device whose bound is not well below its stop timeout.
   */
  get stopBoundMs(): number {
    return 0;
  }

  /** What `stopBoundMs` is made of, for the cell's refusal ("its emergency-stop hold of …"). */
  get stopBoundDetail(): string {
    return 'its stop settings';
  }

  /**
   * True while the device owes a stop: its cell tripped while its link was down, or its stop or
   * safe routine did not succeed. A driver whose link comes back calls `linkUp()` first thing,
   * which writes the owed stop frame before anything else goes on the wire.
   */
  get owesStop(): boolean {
    return this.owedStop !== null;
  }

  /** Record that the device owes a stop (its cell does this; see `owesStop`). */
  oweStop(reason: Cancellation): void {
    this.owedStop = reason;
  }

  /** The owed stop was delivered and the device made safe, or an operator cleared it by hand. */
  clearOwedStop(): void {
    this.owedStop = null;
  }

  /** Its cell's hold gate for operations about to start (see `StartGate`); undefined detaches it. */
  setStartGate(gate: StartGate | undefined): void {
    this.startGate = gate;
  }

  get health(): DeviceHealth {
    return {
      device: this.name,
      kind: this.kind,
      status: this.statusValue,
      detail: this.detailValue,
      fault: this.faultValue,
      positionTrusted: this.trusted,
      owner: this.ownerValue,
    };
  }

  /**
   * Run one operation: find it in the table, validate its parameters, check the device's limits
   * (all before anything is sent), take ownership for the run, wait for the queue, perform it.
   * When `ctx.signal` fires, the returned promise rejects at once with the reason and the
   * driver's `onOperationAborted` tells the device to stop what it is doing.
   */
  execute(operation: string, params: unknown, ctx: OperationContext): Promise<unknown> {
    // Not an async function: the hot path (device free or already the run's, queue idle) takes
    // no extra promise hops, and the queue's promise goes back as it is, already racing
    // `ctx.signal` (see markRacing), so a run step need not race it again.
    let op: OperationSpec;
    let checked: Record<string, unknown>;
    const runId = ctx.runId ?? null;
    try {
      op = this.operation(operation);
      checked = validateParams(this.name, op, params);
      this.checkLimits(op, checked);
      if (op.moves && this.trusted === false) {
        throw new WorkcellError('position-untrusted', `${this.name}: ${op.name} refused: the position can no longer be trusted; home the device first`, {
          subject: this.name,
          operation: op.name,
        });
      }
      if (this.statusValue === 'disconnected' || this.statusValue === 'connecting') {
        throw new WorkcellError('not-connected', `${this.name}: ${op.name} refused: the device is ${this.statusValue}${this.detailValue ? ` (${this.detailValue})` : ''}`, {
          subject: this.name,
          operation: op.name,
        });
      }
      if (!this.takeNow(runId, op.name)) {
        return this.acquire(runId, ctx.signal, op.name).then(() => this.enqueue(op, checked, ctx));
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.enqueue(op, checked, ctx);
  }

  /** The operation's spec by name, from a per-table index (the table is declared once per kind). */
  private operation(name: unknown): OperationSpec {
    const table = this.operations;
    if (this.indexedTable !== table) {
      this.indexedTable = table;
      // First entry wins, as in findOperation.
      this.operationIndex = new Map();
      for (const o of table) if (!this.operationIndex.has(o.name)) this.operationIndex.set(o.name, o);
    }
    return (typeof name === 'string' ? this.operationIndex!.get(name) : undefined) ?? findOperation(this.name, table, name);
  }

  /** Queue a validated operation; the device is taken for the run already. */
  private enqueue(op: OperationSpec, checked: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    return this.queue.runTask(op.name, ctx.signal, new Device.Operation(this, op, checked, ctx));
  }

  /**
   * One queued operation: the queue's task and, at the same time, the context the driver's
   * `perform` gets (one object per operation). Its `signal` is the job's, created when first read.
   */
  private static readonly Operation = class Operation implements QueueTask<unknown>, OperationContext {
    readonly runId: string | undefined;
    readonly onProgress: ((progress: Progress) => void) | undefined;
    private job: QueueJob | undefined;

    constructor(
      private readonly device: Device,
      private readonly op: OperationSpec,
      private readonly params: Record<string, unknown>,
      ctx: OperationContext,
    ) {
      this.runId = ctx.runId;
      this.onProgress = ctx.onProgress;
    }

    get signal(): AbortSignal {
      return this.job!.signal;
    }

    start(job: QueueJob): Promise<unknown> {
      this.job = job;
      // Passed its checkpoint, but the cell was held while it waited for the device: it does
      // not start until the hold is released (or its run ends).
      const held = this.device.startGate?.();
      if (held) {
        return abortable(job.signal, held).then(() => {
          job.signal.throwIfAborted();
          return this.begin();
        });
      }
      return this.begin();
    }

    private begin(): Promise<unknown> {
      const device = this.device;
      if (device.statusValue === 'ready') device.setStatus('busy', this.op.label);
      return Promise.resolve(device.perform(this.op, this.params, this));
    }

    settled(): void {
      if (this.device.statusValue === 'busy') this.device.setStatus('ready');
    }

    aborted(reason: unknown): void {
      if (!this.device.stopping) this.device.onOperationAborted(this.op, reason);
    }
  };

  /**
   * Stop now, bypassing the command queue: the stop frame is written before this returns
   * wherever the transport allows, then every queued and running operation is rejected with
   * `reason`. Resolves when the device has acknowledged (or the driver has done what it can).
   * Equivalent to `writeStop(reason)` followed by `abortOperations(reason)`.
   */
  stop(reason: Cancellation): Promise<void> {
    const sent = this.writeStop(reason);
    this.abortOperations(reason);
    return sent;
  }

  /**
   * The first half of `stop()`: write the stop frame now and touch nothing else (no queue, no
   * listeners), so a cell can put every device's frame on the wire in one synchronous pass
   * before any cancellation handler runs. Resolves when the device has acknowledged; a driver
   * that throws is a rejection, never an exception.
   */
  writeStop(reason: Cancellation): Promise<void> {
    this.stopCount++;
    try {
      return Promise.resolve(this.sendStop(reason));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The second half of `stop()`: reject every queued and running operation with `reason`. The
   * stop frame is taken to be on the wire already, so `onOperationAborted` is not called.
   */
  abortOperations(reason: Cancellation): void {
    this.stopping = true;
    try {
      this.queue.abortAll(reason);
    } finally {
      this.stopping = false;
    }
  }

  /**
   * Drivers call this first thing when their link (re)connects, before they write anything
   * else: a device that owes a stop gets its stop frame now, and `'owed-stop'` is emitted with
   * the acknowledgement's promise (its cell then runs the safe routine and, on success, clears
   * the debt).
   */
  protected linkUp(): void {
    const owed = this.owedStop;
    if (!owed) return;
    const ack = this.writeStop(owed);
    ack.catch(() => undefined);
    this.emit('owed-stop', ack);
  }

  /** Bring the device to its configured safe state. Runs shielded, bounded by `signal`. */
  abstract safe(signal: AbortSignal): Promise<void>;

  /** Clear alarms after an emergency stop. Drivers with alarms override; the default clears the fault. */
  async reset(_signal: AbortSignal): Promise<void> {
    if (this.statusValue === 'fault' && !this.activeFault()) this.setStatus('ready');
    this.faultValue = null;
  }

  /** A fault that a reset cannot clear while it lasts (e.g. an interlock still open), or null. */
  activeFault(): string | null {
    return null;
  }

  /** The driver's work for one validated operation. */
  protected abstract perform(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown>;

  /** Write the device's stop frame now (synchronously where the transport allows). */
  protected abstract sendStop(reason: Cancellation): Promise<void> | void;

  /** Refuse parameters outside the device's limits; throw a `limitError`. Default: no limits. */
  protected checkLimits(_op: OperationSpec, _params: Record<string, unknown>): void {}

  /** The operation in flight was cancelled (not by `stop()`): tell the device to stop it. */
  protected onOperationAborted(_op: OperationSpec, _reason: unknown): void {}

  /** A clear error for a value outside a limit, naming device, operation, limit and value. */
  protected limitError(op: OperationSpec, what: string, value: unknown, limit: string): WorkcellError {
    return new WorkcellError('limit', `${this.name}: ${op.name} refused: ${what} ${showValue(value)} is outside the limit ${limit}; nothing was sent`, {
      subject: this.name,
      operation: op.name,
      value,
    });
  }

  /** Take the device for `runId` (null: work outside any run). See `OwnershipMode`. */
  async acquire(runId: string | null, signal: AbortSignal, operation = 'operation'): Promise<void> {
    while (!this.takeNow(runId, operation)) {
      await abortable(signal, new Promise<void>((resolve) => this.ownerWaiters.push(resolve)));
    }
  }

  /**
   * Take the device for `runId` now if it is free or already the run's (true); false when the
   * caller must wait for it; throws `device-owned` under `fail-fast`.
   */
  private takeNow(runId: string | null, operation: string): boolean {
    if (this.ownerValue === null || this.ownerValue === runId) {
      if (runId !== null && this.ownerValue !== runId) {
        this.ownerValue = runId;
        this.emitHealth();
      }
      return true;
    }
    if (this.ownership === 'fail-fast') {
      throw new WorkcellError('device-owned', `${this.name}: ${operation} refused: the device is in use by run ${this.ownerValue}`, {
        subject: this.name,
        operation,
        value: runId,
      });
    }
    return false;
  }

  /** Give the device back if `runId` holds it; the next waiting run may take it. */
  release(runId: string): void {
    if (this.ownerValue !== runId) return;
    this.ownerValue = null;
    this.emitHealth();
    for (const wake of this.ownerWaiters.splice(0)) wake();
  }

  /** Set the lifecycle status; emits `'health'` on change. A fault on a critical device also emits `'fault'`. */
  protected setStatus(status: DeviceStatus, detail = '', fault: string | null = status === 'fault' ? detail : this.faultValue): void {
    if (status === this.statusValue && detail === this.detailValue && fault === this.faultValue) return;
    this.statusValue = status;
    this.detailValue = detail;
    this.faultValue = status === 'fault' ? fault : status === 'ready' ? null : this.faultValue;
    this.emitHealth();
    if (status === 'fault') this.emit('fault', { device: this.name, fault: detail, critical: this.critical });
  }

  /** Mark whether the device's position can be trusted (false refuses moving operations). */
  protected setPositionTrusted(trusted: boolean | undefined): void {
    if (trusted === this.trusted) return;
    this.trusted = trusted;
    this.emitHealth();
  }

  /** Publish readings as telemetry. */
  protected telemetry(readings: Record<string, unknown>): void {
    this.emit('telemetry', { device: this.name, kind: this.kind, time: Date.now(), ...readings });
  }

  private emitHealth(): void {
    this.emit('health', this.health);
  }
}
