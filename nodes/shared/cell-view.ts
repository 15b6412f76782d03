import { AbortContext, CellState, DeviceHealth } from '../../lib';

/** A device as the editor's Workcell sidebar shows it: its health and its last reading. */
export interface DeviceView extends DeviceHealth {
  /** The device's last telemetry (readings and when they were taken), or null before the first. */
  reading: { time: number; values: Record<string, unknown> } | null;
}

/**
 * A cell as the editor's Workcell sidebar shows it. Only the cell's state, its runs' places,
 * trip sources, stop debts and the devices' health and readings: never a message, a credential
 * or a device's configuration (this goes to every editor over Node-RED's comms channel).
 */
export interface CellView {
  id: string;
  name: string;
  state: CellState;
  /** The sources that tripped the latched stop (empty unless aborting or aborted). */
  tripSources: string[];
  /** Trip sources still asserted (a lost heartbeat, a remote E-stop), by id, with what they say: reset is refused while any is. */
  activeTrips: Record<string, string>;
  /** The devices that owe their stop, with why: reset is refused while any does; each can be cleared by hand. */
  unsafe: { device: string; why: string }[];
  /** Runs in progress, each with the step (node) it is in. */
  runs: { run: string; sequence: string; step: string | null; startedAt: number }[];
  devices: DeviceView[];
}

type Telemetry = Record<string, unknown> & { device?: unknown; kind?: unknown; time?: unknown };

/**
 * Remembers each device's last telemetry reading of one cell (the cell keeps none), from the
 * moment it is created until `close()`.
 */
export class CellReadings {
  private readonly last = new Map<string, { time: number; values: Record<string, unknown> }>();
  private readonly onTelemetry = (t: Telemetry): void => {
    if (typeof t.device !== 'string') return;
    const { device, kind: _kind, time, ...values } = t;
    this.last.set(device, { time: typeof time === 'number' ? time : Date.now(), values });
  };

  constructor(private readonly cell: AbortContext) {
    cell.on('device-telemetry', this.onTelemetry);
  }

  /** The last reading of `device`, or null. */
  of(device: string): DeviceView['reading'] {
    return this.last.get(device) ?? null;
  }

  close(): void {
    this.cell.off('device-telemetry', this.onTelemetry);
  }
}

/** The view of one cell now. */
export function cellView(id: string, cell: AbortContext, readings: CellReadings): CellView {
  return {
    id,
    name: cell.name,
    state: cell.state,
    tripSources: cell.tripSources,
    activeTrips: cell.activeTrips,
    unsafe: cell.unsafeDevices,
    runs: cell.activeRuns.map((r) => ({ run: r.id, sequence: r.sequence, step: r.step, startedAt: r.startedAt })),
    devices: cell.devices.map((h) => ({ ...h, reading: readings.of(h.device) })),
  };
}
