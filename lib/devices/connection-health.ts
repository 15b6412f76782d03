import type { DeviceStatus } from '../device/device';
import type { ConnectionStatus, StatusDetail } from '../io/line-connection';

// What a line connection's state means for a device driven over it: shared by the drivers in
// this folder, between the device contract (lib/device, which knows no transport) and the I/O
// layer (lib/io, which knows no device).

/**
 * The device lifecycle status a line connection's status maps to, the same for every driver:
 * connecting → `connecting` (with the retry count), reconnecting → `disconnected` with the
 * reason and when it retries, disconnected and closed → `disconnected`. `connected` and `idle`
 * map to nothing: a driver decides itself when the device is ready (after its banner or
 * identification).
 */
export function connectionHealth(status: ConnectionStatus, detail: StatusDetail, where: string): { status: DeviceStatus; detail: string } | undefined {
  switch (status) {
    case 'connecting':
      return { status: 'connecting', detail: detail.attempt ? `connecting to ${where} (retry ${detail.attempt})` : `connecting to ${where}` };
    case 'reconnecting':
      return { status: 'disconnected', detail: `${detail.reason ?? 'disconnected'}; retrying in ${Math.max(1, Math.round((detail.inMs ?? 0) / 1000))} s` };
    case 'disconnected':
      return { status: 'disconnected', detail: detail.reason ?? 'disconnected' };
    case 'closed':
      return { status: 'disconnected', detail: 'closed' };
    default:
      return undefined;
  }
}

/**
 * Why a device cannot write now, for a driver's sentence ("Mill: cannot stop: …"): `not
 * connected (tcp://127.0.0.1:5025 is reconnecting: connection refused)`, with the connection's
 * last reason when it has one.
 */
export function notConnected(connection: { description: string; status: ConnectionStatus; statusDetail: StatusDetail }): string {
  const reason = connection.statusDetail.reason;
  return `not connected (${connection.description} is ${connection.status}${reason ? `: ${reason}` : ''})`;
}
