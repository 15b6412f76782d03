import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { OpenFailedError } from './errors';
import type { Transport, TransportClosed, TransportEvents } from './transport';

/** Line settings of a serial port. Defaults: 115200 baud, 8N1, no hardware flow control, exclusive lock. */
export interface SerialSettings {
  baudRate?: number;
  dataBits?: 5 | 6 | 7 | 8;
  parity?: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits?: 1 | 1.5 | 2;
  /** RTS/CTS hardware flow control. */
  rtscts?: boolean;
  /**
   * Take the port exclusively (TIOCEXCL), so a second program, or a second Node-RED node on the
   * same path, fails to open with "in use" instead of both reading half the bytes. Default true;
   * the lock goes with the file descriptor, so reconnecting after our own close is never blocked.
   */
  lock?: boolean;
}

export const defaultSerialSettings: Required<SerialSettings> = {
  baudRate: 115200, dataBits: 8, parity: 'none', stopBits: 1, rtscts: false, lock: true,
};

/** Turns a binding's open error into the reason a user can act on. */
function explainOpenError(path: string, error: Error): string {
  const text = error.message;
  if (/no such file|ENOENT/i.test(text)) return `no such port ${path} (unplugged, or a different name?)`;
  if (/permission denied|EACCES/i.test(text)) return `permission denied (on Linux, add the Node-RED user to the dialout group)`;
  if (/cannot lock|locked|resource temporarily unavailable|EBUSY|EAGAIN/i.test(text)) return `the port is in use by another program or node`;
  return text.replace(/^Error:?\s*/, '');
}

/**
 * A serial port through serialport 13 as a `Transport`. Each `open()` creates a fresh
 * `SerialPort` (autoOpen off), so a port that vanished (USB unplug) and came back is simply
 * opened again. The session ends when the port closes: on `close()` (requested) or when the
 * binding reports a disconnect or a read/write error (not requested).
 */
export class SerialTransport extends EventEmitter<TransportEvents> implements Transport {
  readonly description: string;
  readonly path: string;
  readonly settings: Required<SerialSettings>;
  private port: SerialPort | undefined;
  /** Settles once a native open in progress has finished (and, if abandoned, closed again). */
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(path: string, settings: SerialSettings = {}, description = path) {
    super();
    this.path = path;
    this.description = description;
    this.settings = { ...defaultSerialSettings, ...stripUndefined(settings) };
  }

  get isOpen(): boolean {
    return this.port !== undefined && this.port.isOpen && !this.closing;
  }

  /**
   * Opens the port with the configured settings. Rejects with `OpenFailedError` naming the path
   * and the reason; on abort rejects with `signal.reason` at once and closes the port as soon as
   * the (uncancellable) native open finishes.
   */
  open(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.port || this.opening) return Promise.reject(new OpenFailedError(this.description, 'it is already open'));
    let port: SerialPort;
    try {
      port = new SerialPort({ path: this.path, ...this.settings, autoOpen: false });
    } catch (error) {
      return Promise.reject(new OpenFailedError(this.description, (error as Error).message, error));
    }
    return new Promise<void>((resolve, reject) => {
      let abandoned = false;
      let finished!: () => void;
      this.opening = new Promise<void>((done) => { finished = done; });
      const onAbort = () => {
        abandoned = true;
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      port.open((error) => {
        signal?.removeEventListener('abort', onAbort);
        const settle = () => { this.opening = undefined; finished(); };
        if (error) {
          settle();
          if (!abandoned) reject(new OpenFailedError(this.description, explainOpenError(this.path, error), error));
          return;
        }
        if (abandoned) {
          // The native open cannot be interrupted; close what it opened before anyone reopens.
          port.close(() => settle());
          return;
        }
        settle();
        this.attach(port);
        resolve();
      });
    });
  }

  private attach(port: SerialPort): void {
    this.port = port;
    let lastError: Error | undefined;
    port.on('data', (chunk: Buffer) => this.emit('data', chunk));
    // serialport emits 'error' for failed writes/reads; the 'close' that follows carries the end.
    port.on('error', (error: Error) => { lastError = error; });
    port.once('close', (error: Error | null) => {
      port.removeAllListeners('data');
      const requested = this.closing !== undefined;
      this.port = undefined;
      const cause = error ?? lastError;
      const closed: TransportClosed = requested
        ? { requested: true, reason: 'closed on request' }
        : { requested: false, reason: cause ? `device disconnected (${cause.message})` : 'device disconnected', error: cause ?? undefined };
      this.emit('close', closed);
    });
  }

  /** Writes bytes; resolves once serialport has handed them to the operating system. */
  write(bytes: Uint8Array): Promise<void> {
    const port = this.port;
    if (!port || !port.isOpen || this.closing) return Promise.reject(new Error(`${this.description}: the port is not open`));
    return new Promise((resolve, reject) => {
      port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (error) => {
        if (error) reject(new Error(`${this.description}: write failed: ${error.message}`));
        else resolve();
      });
    });
  }

  /**
   * Closes the port; resolves after its `close` event. An open still in progress (abandoned by
   * its signal) is waited for, so the device is really released when this resolves.
   */
  async close(): Promise<void> {
    if (this.opening) await this.opening;
    if (this.closing) return this.closing;
    const port = this.port;
    if (!port) return;
    this.closing = new Promise<void>((resolve) => {
      this.once('close', () => resolve());
      port.close((error) => {
        // Closing a port that already vanished fails; its 'close' event still ends the session.
        if (error && this.port === port && !port.isOpen) {
          port.emit('close', null);
        }
      });
    }).finally(() => { this.closing = undefined; });
    return this.closing;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
