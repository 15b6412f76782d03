import { WorkcellError } from '../errors/workcell-error';

/**
 * Errors of the I/O layer. Each is a sentence that starts with the connection's description
 * (`/dev/ttyUSB0`, `tcp://127.0.0.1:5025`) and names the request and the value involved, and
 * carries the same facts as fields (`subject` = connection, `operation` = request line) so a
 * driver can tell them apart with `instanceof` and a node can put them on `msg.error`.
 */
export class IoError extends WorkcellError {
  override readonly name: string = 'IoError';
}

/** How a request line appears in a sentence: quoted, shortened when long. */
export function showLine(line: string): string {
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 57)}...` : line);
}

/** An address that is neither a device path nor `tcp://host:port`. */
export class EndpointError extends IoError {
  override readonly name = 'EndpointError';
  constructor(address: unknown, why: string) {
    super('EADDRESS', `${JSON.stringify(address)} is not a connection address: ${why}`, { value: address });
  }
}

/** Opening the transport failed (no such port, permission denied, port in use, refused, unreachable). */
export class OpenFailedError extends IoError {
  override readonly name = 'OpenFailedError';
  constructor(connection: string, why: string, cause?: unknown) {
    super('EOPEN', `${connection}: cannot open: ${why}`, { subject: connection, operation: 'open', cause });
  }
}

/** No reply, or no complete reply, arrived within the request's timeout. */
export class RequestTimeoutError extends IoError {
  override readonly name = 'RequestTimeoutError';
  readonly timeoutMs: number;
  /** Lines already collected for a multi-line reply when the time ran out. */
  readonly partial: readonly string[];
  constructor(connection: string, request: string, timeoutMs: number, partial: readonly string[] = []) {
    const got = partial.length ? ` (got ${partial.length} line${partial.length > 1 ? 's' : ''} of it, no final line)` : '';
    super('ETIMEOUT', `${connection}: no reply to ${showLine(request)} within ${timeoutMs} ms${got}`, {
      subject: connection, operation: request, value: timeoutMs,
    });
    this.timeoutMs = timeoutMs;
    this.partial = partial;
  }
}

/**
 * The transport went away (unplugged, peer closed, reset) while a request was queued or waiting
 * for its reply. The request may or may not have reached the device.
 */
export class ConnectionLostError extends IoError {
  override readonly name = 'ConnectionLostError';
  readonly reason: string;
  constructor(connection: string, request: string | undefined, reason: string, written = false) {
    const what = request === undefined ? '' : written
      ? ` before the reply to ${showLine(request)} arrived`
      : ` before ${showLine(request)} was sent`;
    super('ELOST', `${connection}: connection lost${what} (${reason})`, { subject: connection, operation: request, value: reason });
    this.reason = reason;
  }
}

/** A request or write was made while the connection is not connected (connecting, waiting to reconnect). */
export class NotConnectedError extends IoError {
  override readonly name = 'NotConnectedError';
  constructor(connection: string, request: string | undefined, status: string) {
    const what = request === undefined ? 'cannot write' : `cannot send ${showLine(request)}`;
    super('ENOTCONN', `${connection}: ${what}: not connected (${status})`, { subject: connection, operation: request, value: status });
  }
}

/** The connection was closed for good (`close()`), e.g. on redeploy; pending work is dropped. */
export class ConnectionClosedError extends IoError {
  override readonly name = 'ConnectionClosedError';
  constructor(connection: string, request: string | undefined) {
    const what = request === undefined ? '' : `: ${showLine(request)} was dropped`;
    super('ECLOSED', `${connection}: connection closed${what}`, { subject: connection, operation: request });
  }
}

/**
 * The driver declared that replies still owed by the device will never come (it reset the
 * device, whose input buffer is flushed); requests waiting for them reject with this.
 */
export class RepliesDiscardedError extends IoError {
  override readonly name = 'RepliesDiscardedError';
  constructor(connection: string, request: string, why: string) {
    super('EDISCARDED', `${connection}: reply to ${showLine(request)} will not come: ${why}`, { subject: connection, operation: request, value: why });
  }
}
