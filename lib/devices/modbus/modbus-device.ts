import { Device, type DeviceOptions, type OperationContext } from '../../device/device';
import type { OperationSpec } from '../../device/operations';
import { deviceError } from './bus-error';
import { WorkcellError } from '../../errors/workcell-error';
import type { ConnectionStatus, StatusDetail } from '../../io/reconnect-loop';
import type { ModbusBusLink, ModbusUnit } from '../../io/modbus/modbus-unit';

export interface ModbusDeviceOptions extends DeviceOptions {
  /** The bus the device is on (a `workcell-modbus` node's bus, or a `ModbusBus` in tests). */
  bus: ModbusBusLink;
  /** The device's unit id on the bus. */
  unitId: number;
}

/**
 * What every device on a Modbus bus shares: its unit on the bus, and a status that follows the
 * bus's connection. The bus is shared, so a device does not own a connection: `open()` acquires
 * the bus and `close()` releases it.
 *
 * When a session begins (`up`), the device first writes the stop it owes, if any (`linkUp`),
 * then `onSessionStart` runs (a driver checks the unit answers and starts its telemetry); while
 * it runs the device reads `connecting`. When a session ends (`down`), `onSessionEnd` runs and
 * the device reads `disconnected` with the bus's reason until the bus reconnects.
 */
export abstract class ModbusDevice extends Device {
  protected readonly bus: ModbusBusLink;
  protected readonly unit: ModbusUnit;
  private releaseBus: (() => Promise<void>) | undefined;
  private closed = false;
  /** Counts sessions, so a slow `onSessionStart` from an old session does not mark the device ready. */
  private session = 0;

  constructor(options: ModbusDeviceOptions) {
    super(options);
    this.bus = options.bus;
    this.unit = options.bus.unit(options.unitId);
  }

  /** Acquire the bus (it connects if it is not yet); status follows on `'health'`. */
  async open(): Promise<void> {
    if (this.closed) throw new WorkcellError('closed', `${this.name}: cannot open: the device was closed`, { subject: this.name });
    if (this.releaseBus) return;
    this.bus.on('status', this.onBusStatus);
    this.bus.on('up', this.onBusUp);
    this.bus.on('down', this.onBusDown);
    this.releaseBus = this.bus.acquire();
    if (this.bus.status === 'connected') this.onBusUp();
    else this.onBusStatus(this.bus.status, this.bus.detail);
  }

  /** Stop the device's own work (`onSessionEnd`) and release the bus; resolves once released. */
  async close(): Promise<void> {
    this.closed = true;
    this.session++;
    this.bus.off('status', this.onBusStatus);
    this.bus.off('up', this.onBusUp);
    this.bus.off('down', this.onBusDown);
    this.onSessionEnd('closed');
    const release = this.releaseBus;
    this.releaseBus = undefined;
    if (release) await release();
    this.setStatus('disconnected', 'closed');
  }

  /** Runs the operation (`runOperation`); an error it meets becomes the device's sentence (`deviceError`). */
  protected async perform(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    try {
      return await this.runOperation(op, params, ctx);
    } catch (err) {
      throw deviceError(this.name, op.name, err, ctx.signal);
    }
  }

  /** The driver's work for one validated operation (see `perform`). */
  protected abstract runOperation(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown>;

  /**
   * A new session on the bus: check the unit and start telemetry. Resolves when the device can
   * work; rejects with a sentence when the unit does not answer as expected (the device then
   * reads `fault` with it). Runs after any owed stop was written.
   */
  protected abstract onSessionStart(): Promise<void>;

  /** The session ended (`reason`) or the device closed: stop telemetry and timers. */
  protected abstract onSessionEnd(reason: string): void;

  private readonly onBusStatus = (status: ConnectionStatus, detail: StatusDetail): void => {
    if (status === 'connected') return; // `up` follows and decides
    if (status === 'connecting' || status === 'reconnecting' || status === 'idle') {
      const why = detail.reason ? `bus ${status}: ${detail.reason}` : `bus ${status}`;
      this.setStatus(status === 'connecting' || status === 'idle' ? 'connecting' : 'disconnected', why);
    } else {
      this.setStatus('disconnected', detail.reason ? `bus ${status}: ${detail.reason}` : `bus ${status}`);
    }
  };

  private readonly onBusUp = (): void => {
    const session = ++this.session;
    this.setStatus('connecting', `unit ${this.unit.unitId}: checking`);
    this.linkUp();
    this.onSessionStart().then(
      () => {
        if (session === this.session && this.status === 'connecting') this.setStatus('ready');
      },
      (err: unknown) => {
        if (session !== this.session) return;
        const why = err instanceof Error ? err.message : String(err);
        this.setStatus('fault', why);
      },
    );
  };

  private readonly onBusDown = (reason: string): void => {
    this.session++;
    this.onSessionEnd(reason);
    this.setStatus('disconnected', `bus down: ${reason}`);
  };
}
