import type { EventEmitter } from 'node:events';

/** Why a transport session ended. */
export interface TransportClosed {
  /** True when `close()` asked for it; false when the device, cable or peer went away. */
  readonly requested: boolean;
  /** A short sentence for messages and status: "the peer closed the connection", "device unplugged (EIO)". */
  readonly reason: string;
  readonly error?: Error;
}

export interface TransportEvents {
  /** Bytes as they arrive, in order, unframed. */
  data: [chunk: Buffer];
  /** The session ended. Emitted exactly once per successful `open()`, never for a failed one. */
  close: [closed: TransportClosed];
}

/**
 * A byte pipe to one device: a serial port, or the raw TCP socket of a serial device server or
 * an instrument. Deliberately as small as serialport's binding interface, so another transport
 * (a UR dashboard socket, a child process) drops in without touching framing or requests.
 *
 * A transport is reusable: after a session closes, `open()` starts a new one. Framing,
 * requests and reconnection live above it (see `LineConnection`).
 */
export interface Transport extends Pick<EventEmitter<TransportEvents>, 'on' | 'off' | 'once'> {
  /** How messages name this transport: the address as configured (`/dev/ttyUSB0`, `tcp://10.0.0.5:5025`). */
  readonly description: string;
  /** True between a successful `open()` and the `close` event. */
  readonly isOpen: boolean;
  /**
   * Opens a session. Resolves once bytes can be written; rejects with an `OpenFailedError`
   * saying why (no such port, permission, in use, refused, timed out). When `signal` fires
   * first it rejects promptly with `signal.reason` and leaves nothing open behind.
   * Calling it while a session is open or opening rejects.
   */
  open(signal?: AbortSignal): Promise<void>;
  /**
   * Hands bytes to the device in call order. Resolves when the operating system has them;
   * rejects when the session is not open or the write fails.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Ends the session and resolves once it is fully closed (the `close` event, with
   * `requested: true`, has been emitted). Resolves at once when nothing is open; safe to call twice.
   */
  close(): Promise<void>;
}
