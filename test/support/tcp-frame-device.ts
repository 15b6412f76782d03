import net from 'node:net';
import { once } from 'node:events';
import { Cancellation, Device, OperationContext, OperationSpec, OperationTable } from '../../lib';

/** One operation that does nothing: enough for the engine to own, queue and validate it. */
export const TCP_FRAME_OPERATIONS: OperationTable = [
  { name: 'noop', label: 'No-op', description: 'Do nothing, at once.', params: [] },
  { name: 'hold', label: 'Hold', description: 'Stay busy until cancelled (an operation in flight when the stop comes).', params: [] },
];

/**
 * A benchmark device whose stop frame is real bytes on a real TCP socket (127.0.0.1): what an
 * emergency stop costs end to end is the engine's fan-out plus the kernel's loopback, with no
 * simulator in between. `sendStop` writes `frame(reason)` synchronously (Nagle off), as a
 * driver's stop lane does; it does not wait for an acknowledgement.
 */
export class TcpFrameDevice extends Device {
  readonly kind = 'tcp-frame';
  readonly operations = TCP_FRAME_OPERATIONS;
  private socket: net.Socket | undefined;
  /** The bytes written on each stop; the benchmark puts a trip number in them. */
  frame: (reason: Cancellation) => string = () => '!\n';
  /** process.hrtime.bigint() right after the last stop frame was handed to the socket. */
  wroteAt = 0n;
  /** process.hrtime.bigint() when the operation in flight last saw its signal fire. */
  abortSeenAt = 0n;

  constructor(name: string) {
    super({ name });
  }

  /** Connect to `port` on 127.0.0.1; the device is ready once connected. */
  async connect(port: number): Promise<void> {
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    await once(socket, 'connect');
    // A stop frame must not sit in Nagle's buffer waiting for an ACK.
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    this.socket = socket;
    this.setStatus('ready');
  }

  /** Close the socket. */
  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.setStatus('disconnected');
  }

  protected async perform(op: OperationSpec, _params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    if (op.name !== 'hold') return {};
    return new Promise((_resolve, reject) => {
      const onAbort = () => {
        this.abortSeenAt = process.hrtime.bigint();
        reject(ctx.signal.reason);
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  protected sendStop(reason: Cancellation): void {
    if (!this.socket) throw new Error(`${this.name}: stop not sent: not connected`);
    this.socket.write(this.frame(reason));
    this.wroteAt = process.hrtime.bigint();
  }

  async safe(_signal: AbortSignal): Promise<void> {}
}
