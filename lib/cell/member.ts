import type { Device, DeviceHealth, StartGate } from '../device/device';
import type { CancelScope } from '../scope/cancel-scope';
import type { StopReport } from './stop-report';

/** A device in a cell, with the cell's listeners on it. */
export interface Member {
  device: Device;
  safeGroup: number;
  /** The device's last status was one with a live link (ready, busy, fault). */
  linked: boolean;
  onHealth: (h: DeviceHealth) => void;
  onFault: (f: { fault: string; critical: boolean }) => void;
  onTelemetry: (t: Record<string, unknown>) => void;
  onOwedStop: (ack: Promise<void>) => void;
}

/** The emergency stop in progress. */
export interface Stopping {
  kind: 'estop' | 'halt';
  sources: string[];
  /** The safe routines' common parent: a halt cancels it. */
  safePhase: CancelScope;
  promise: Promise<StopReport>;
}

/** The cell starts listening to a member's device, and gates its operations with the cell's hold. */
export function attachMember(m: Member, gate: StartGate): void {
  m.device.on('health', m.onHealth);
  m.device.on('fault', m.onFault);
  m.device.on('telemetry', m.onTelemetry);
  m.device.on('owed-stop', m.onOwedStop);
  m.device.setStartGate(gate);
}

/** The cell stops listening to a member's device (it left the cell). */
export function detachMember(m: Member): void {
  m.device.off('health', m.onHealth);
  m.device.off('fault', m.onFault);
  m.device.off('telemetry', m.onTelemetry);
  m.device.off('owed-stop', m.onOwedStop);
  m.device.setStartGate(undefined);
}
