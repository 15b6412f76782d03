import { Device, OperationContext, OperationSpec, OperationTable, Pausable, sleep, Cancellation } from '../../lib';

/** Everything the memory device was asked to do, in order, with timestamps (performance.now()). */
export interface DeviceEvent {
  what: 'perform' | 'stop' | 'safe' | 'safe-done' | 'abort-op' | 'pause' | 'resume' | 'reset';
  op?: string;
  at: number;
  detail?: unknown;
}

export const MEMORY_OPERATIONS: OperationTable = [
  {
    name: 'move',
    label: 'Move',
    description: 'Move to a position, taking `ms` milliseconds.',
    moves: true,
    params: [
      { name: 'position', label: 'Position', type: 'number', required: true, min: -100, max: 100, unit: 'mm' },
      { name: 'ms', label: 'Duration', type: 'integer', default: 10, min: 0, max: 600000, unit: 'ms' },
    ],
    result: '`{position}`',
  },
  { name: 'noop', label: 'No-op', description: 'Do nothing, at once.', params: [] },
  { name: 'fail', label: 'Fail', description: 'Fail with a device error.', params: [{ name: 'message', label: 'Message', type: 'string', default: 'boom' }] },
];

/**
 * An in-memory device for the engine's tests (not a shipped device kind): it records what it
 * was asked to do so tests can assert orderings (every stop before any safe), and its
 * behaviour is configurable (slow safe routines, failing stops, a lasting fault).
 */
export class MemoryDevice extends Device implements Pausable {
  readonly kind = 'memory';
  readonly operations = MEMORY_OPERATIONS;
  readonly log: DeviceEvent[] = [];
  position = 0;
  safeMs = 0;
  safeFails = false;
  stopFails = false;
  lastingFault: string | null = null;
  paused = false;
  /** How long `resume` waits before it writes (see `resume`). */
  resumeMs = 0;
  /** Called synchronously inside stop(): benchmarks write a frame to a socket here. */
  onStop: ((reason: Cancellation) => void) | undefined;

  constructor(name: string, options: { ownership?: 'wait' | 'fail-fast'; critical?: boolean } = {}) {
    super({ name, ...options });
    this.setStatus('ready');
  }

  protected async perform(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    this.log.push({ what: 'perform', op: op.name, at: performance.now(), detail: params });
    switch (op.name) {
      case 'move': {
        const ms = params.ms as number;
        const deadline = performance.now() + ms;
        while (performance.now() < deadline) {
          await sleep(Math.min(5, deadline - performance.now()), ctx.signal);
          while (this.paused) await sleep(2, ctx.signal);
        }
        this.position = params.position as number;
        return { position: this.position };
      }
      case 'fail':
        throw new Error(`${this.name}: ${params.message as string}`);
      default:
        return {};
    }
  }

  protected sendStop(reason: Cancellation): Promise<void> {
    this.log.push({ what: 'stop', at: performance.now(), detail: reason.kind });
    this.onStop?.(reason);
    return this.stopFails ? Promise.reject(new Error(`${this.name}: stop not acknowledged`)) : Promise.resolve();
  }

  protected override onOperationAborted(op: OperationSpec, reason: unknown): void {
    this.log.push({ what: 'abort-op', op: op.name, at: performance.now(), detail: (reason as Cancellation).kind });
  }

  async safe(signal: AbortSignal): Promise<void> {
    this.log.push({ what: 'safe', at: performance.now() });
    if (this.safeMs) await sleep(this.safeMs, signal);
    if (this.safeFails) throw new Error(`${this.name}: safe routine failed`);
    this.log.push({ what: 'safe-done', at: performance.now() });
  }

  override async reset(signal: AbortSignal): Promise<void> {
    this.log.push({ what: 'reset', at: performance.now() });
    await super.reset(signal);
  }

  override activeFault(): string | null {
    return this.lastingFault;
  }

  async pause(): Promise<void> {
    this.paused = true;
    this.log.push({ what: 'pause', at: performance.now() });
  }

  /**
   * Resume, as a driver does: wait `resumeMs` (a machine still decelerating into its hold), then
   * write the resume — never once `signal` has fired or a stop has begun meanwhile.
   */
  async resume(signal?: AbortSignal): Promise<void> {
    const stops = this.stopCount;
    if (this.resumeMs) await sleep(this.resumeMs, signal).catch(() => undefined);
    if (signal?.aborted || this.stopCount !== stops) return;
    this.paused = false;
    this.log.push({ what: 'resume', at: performance.now() });
  }

  /** Raise a fault as a real device would report one. */
  raiseFault(text: string): void {
    this.setStatus('fault', text);
  }

  markUntrusted(): void {
    this.setPositionTrusted(false);
  }
}
