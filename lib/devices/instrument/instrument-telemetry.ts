import { describeError, isCancellation } from '../../scope/reasons';
import type { TelemetryQuery } from './presets';
import { parseScpiNumbers, unitOfQuery } from './scpi-response';
import type { ScpiLink } from './scpi-link';

/** One telemetry read: each reading by name, with its unit. */
export interface TelemetryResult {
  readings: Record<string, number | null>;
  units: Record<string, string>;
}

/** What the telemetry poller needs from its device. */
export interface TelemetryHost {
  readonly name: string;
  readonly link: ScpiLink;
  /** The reply timeout of each query, ms. */
  readonly timeoutMs: number;
  /** True when a read may start now: the device is ready and no operation runs or waits. */
  idle(): boolean;
  /** Runs `work` through the device's command queue (never overlapping an operation). */
  queued<T>(signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T>;
  /** The unit of the function last configured, for queries whose header names none (`READ?`). */
  lastUnit(): string | undefined;
  /** A read's result, for the device's `'telemetry'` event. */
  emit(result: TelemetryResult): void;
  warn(text: string): void;
}

/**
 * Telemetry: with an interval set, the telemetry queries are read through the command queue,
 * one read every interval after the previous one ended, skipped while an operation runs or
 * waits (operations come first), and handed to the device as one result. A failed read is a
 * warning; the next one comes all the same. A session's reads stop when its signal fires.
 */
export class InstrumentTelemetry {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly host: TelemetryHost,
    readonly intervalMs: number,
    readonly queries: readonly TelemetryQuery[],
  ) {}

  /** Starts reading every `intervalMs` for the session `signal` belongs to (nothing with no interval or queries). */
  start(signal: AbortSignal): void {
    this.stop();
    if (this.intervalMs <= 0 || this.queries.length === 0) return;
    const tick = () => {
      if (signal.aborted) return;
      void this.poll(signal).finally(() => {
        if (!signal.aborted) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.timer = setTimeout(tick, this.intervalMs);
  }

  /** No further read is scheduled. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One telemetry read, unless an operation is running or waiting (operations come first). */
  private async poll(signal: AbortSignal): Promise<void> {
    const host = this.host;
    if (this.busy || !host.idle()) return;
    this.busy = true;
    try {
      const result = await host.queued(signal, async (s) => {
        await host.link.settle(s);
        const readings: Record<string, number | null> = {};
        const units: Record<string, string> = {};
        for (const { name, query } of this.queries) {
          const reply = await host.link.ask('telemetry', query, s, host.timeoutMs);
          const [first] = parseScpiNumbers(host.name, 'telemetry', query, reply);
          readings[name] = first.overload ? null : first.value;
          units[name] = unitOfQuery(query) ?? host.lastUnit() ?? '';
        }
        return { readings, units };
      });
      host.emit(result);
    } catch (err) {
      if (!signal.aborted && !isCancellation(err)) host.warn(`${host.name}: telemetry read failed: ${describeError(err)}`);
    } finally {
      this.busy = false;
    }
  }
}
