import type { ConnectionStatus, StatusDetail } from '../io/line-connection';
import type { DeviceStatus } from './device';

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
