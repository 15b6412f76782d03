import { Cancellation, Device, DeviceStatus, OperationContext, OperationSpec, sleep } from '../../lib';
import { MEMORY_OPERATIONS, MemoryDevice } from '../support/memory-device';
import { until } from '../support/event-order';

export { until };

/** One macrotask: everything queued as microtasks (promise reactions) has run by then. */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The rejection reason of `p` (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection, but it resolved');
}

/**
 * The memory device with a shared, cell-wide event log (so orderings across devices can be
 * asserted) and knobs the engine tests need: a stop that never acknowledges, a slow or failing
 * reset, a limit, and access to the protected lifecycle setters.
 */
export class TestDevice extends MemoryDevice {
  stopHangs = false;
  resetMs = 0;
  resetFails = false;
  /** Largest |position| the device accepts (checked by `checkLimits`). */
  limitMm: number | undefined;

  constructor(
    name: string,
    readonly shared: string[] = [],
    options: { ownership?: 'wait' | 'fail-fast'; critical?: boolean } = {},
  ) {
    super(name, options);
  }

  protected override sendStop(reason: Cancellation): Promise<void> {
    this.shared.push(`stop ${this.name}`);
    const sent = super.sendStop(reason);
    return this.stopHangs ? new Promise<void>(() => undefined) : sent;
  }

  override async safe(signal: AbortSignal): Promise<void> {
    this.shared.push(`safe ${this.name}`);
    if (this.status === 'disconnected') throw new Error(`${this.name}: safe: not connected`);
    await super.safe(signal);
    this.shared.push(`safe-done ${this.name}`);
  }

  override async reset(signal: AbortSignal): Promise<void> {
    this.shared.push(`reset ${this.name}`);
    if (this.resetMs) await sleep(this.resetMs, signal);
    if (this.resetFails) throw new Error(`${this.name}: alarm will not clear`);
    await super.reset(signal);
  }

  protected override checkLimits(op: OperationSpec, params: Record<string, unknown>): void {
    if (op.name === 'move' && this.limitMm !== undefined && Math.abs(params.position as number) > this.limitMm) {
      throw this.limitError(op, 'position', params.position, `±${this.limitMm} mm`);
    }
  }

  setStatusTo(status: DeviceStatus, detail = ''): void {
    this.setStatus(status, detail);
  }

  /** The link drops: the device shows disconnected and its stop fails, as a driver's would. */
  linkDown(): void {
    this.stopFails = true;
    this.setStatus('disconnected', 'link lost');
  }

  /** The link returns: the driver's first act is `linkUp()` (an owed stop goes out), then it is ready. */
  linkBack(options: { stopWorks?: boolean } = {}): void {
    this.stopFails = options.stopWorks === false;
    this.shared.push(`link ${this.name}`);
    this.linkUp();
    this.setStatus('ready');
  }

  /** How many stops were written to this device (the protected counter drivers read). */
  get stopsWritten(): number {
    return this.stopCount;
  }

  publish(readings: Record<string, unknown>): void {
    this.telemetry(readings);
  }

  /** Positions are trusted again (homed). */
  homed(): void {
    this.setPositionTrusted(true);
  }

  /** Cast helper for the `stopping` flag (protected). */
  get isStopping(): boolean {
    return this.stopping;
  }
}

/** A device that cannot pause: its operations run to their end while the cell is held. */
export class PlainDevice extends Device {
  readonly kind = 'plain';
  readonly operations = MEMORY_OPERATIONS;
  readonly log: string[] = [];

  constructor(name: string) {
    super({ name });
    this.setStatus('ready');
  }

  protected async perform(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    this.log.push(`perform ${op.name}`);
    if (op.name === 'move') await sleep(params.ms as number, ctx.signal);
    this.log.push(`done ${op.name}`);
    return {};
  }

  protected sendStop(): void {
    this.log.push('stop');
  }

  async safe(): Promise<void> {
    this.log.push('safe');
  }
}
