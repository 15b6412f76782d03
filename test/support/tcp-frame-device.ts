import { Cancellation, Device, OperationContext, OperationSpec, OperationTable } from '../../lib';
import { LineConnection, TcpTransport } from '../../lib/io';

/** One operation that does nothing: enough for the engine to own, queue and validate it. */
export const TCP_FRAME_OPERATIONS: OperationTable = [
  { name: 'noop', label: 'No-op', description: 'Do nothing, at once.', params: [] },
  { name: 'hold', label: 'Hold', description: 'Stay busy until cancelled (an operation in flight when the stop comes).', params: [] },
];

/**
 * Order stamps shared by every TcpFrameDevice: a counter, cheaper than a clock reading (one
 * per device would be 100 readings inside the pass being measured) and exact about order.
 */
let orderStamp = 0;

/** The next order stamp (for events outside the devices that the benchmark orders against their writes). */
export function nextOrderStamp(): number {
  return ++orderStamp;
}

/**
 * A benchmark device whose stop frame is real bytes on a real TCP socket (127.0.0.1): what an
 * emergency stop costs end to end is the engine's fan-out, the drivers' I/O layer and the
 * kernel's loopback, with no simulator in between. It talks through the same stack as the
 * drivers (`TcpTransport`, Nagle off, under a `LineConnection`), and `sendStop` writes
 * `stopFrame` with `writeNow` as a driver's stop lane does; it resolves once the bytes are
 * written and waits for no acknowledgement.
 */
export class TcpFrameDevice extends Device {
  readonly kind = 'tcp-frame';
  readonly operations = TCP_FRAME_OPERATIONS;
  private connection: LineConnection | undefined;
  /** The bytes written on each stop (prepared once, as a driver's constant stop frame is); the benchmark puts a trip number in them. */
  stopFrame: Buffer = Buffer.from('!\n');
  /** Order stamp (see `nextOrderStamp`) of the last stop frame handed to the socket. */
  wroteOrder = 0;
  /** When true, `wroteAt` is read after each stop frame (the benchmark asks it of the first and last device only). */
  timeWrites = false;
  /** process.hrtime.bigint() right after the last stop frame was handed to the socket (with `timeWrites`). */
  wroteAt = 0n;
  /** Order stamp of the moment the operation in flight last saw its signal fire (0: not since cleared). */
  abortSeenOrder = 0;

  constructor(name: string) {
    super({ name });
  }

  /** Connect to `port` on 127.0.0.1; the device is ready once connected. */
  async connect(port: number): Promise<void> {
    const connection = new LineConnection(new TcpTransport('127.0.0.1', port), { reconnect: false });
    connection.open();
    await connection.waitConnected();
    this.connection = connection;
    this.setStatus('ready');
  }

  /** Close the connection. */
  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.setStatus('disconnected');
    await connection?.close();
  }

  protected async perform(op: OperationSpec, _params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    if (op.name !== 'hold') return {};
    return new Promise((_resolve, reject) => {
      const onAbort = () => {
        this.abortSeenOrder = nextOrderStamp();
        reject(ctx.signal.reason);
      };
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  protected sendStop(_reason: Cancellation): Promise<void> {
    if (!this.connection) throw new Error(`${this.name}: stop not sent: not connected`);
    const written = this.connection.writeNow(this.stopFrame);
    this.wroteOrder = ++orderStamp;
    if (this.timeWrites) this.wroteAt = process.hrtime.bigint();
    return written;
  }

  async safe(_signal: AbortSignal): Promise<void> {}
}
