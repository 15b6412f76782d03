import type { ConnectionStatus, StatusDetail } from '../reconnect-loop';

/**
 * The contract between the Modbus bus (`ModbusBus`, one TCP connection or one serial line) and
 * the devices on it. A device never talks to the wire itself: it gets a `ModbusUnit` for its
 * unit id from the bus and issues requests through it.
 */

/**
 * Where a request goes in the bus's queue:
 * - `'stop'`: ahead of everything queued on the bus, whichever unit it is for (emergency stop
 *   and safe-state writes). Stop requests among themselves keep their order.
 * - `'normal'`: the fair queue; units take turns (round robin), so one slow or silent unit
 *   never holds up the others.
 */
export type ModbusPriority = 'stop' | 'normal';

export interface ModbusRequestOptions {
  /** Default `'normal'`. */
  priority?: ModbusPriority;
  /**
   * Aborts the request while it is still queued (it rejects at once with `signal.reason` and
   * is never sent). A request already on the wire runs to its reply or its timeout, so the
   * bus never loses track of what the unit is answering.
   */
  signal?: AbortSignal;
  /** This request's reply timeout in ms, instead of the bus's. */
  timeoutMs?: number;
}

/**
 * One unit (slave) on a bus. Addresses are 0-based protocol addresses (0–65535), as on the
 * wire; register values are unsigned 16-bit words (0–65535). Every method checks its arguments
 * before queueing (an integer address in range, a count within the function's limit: 2000 bits,
 * 125 registers read, 123 written, 1968 coils written; values in range) and rejects with a
 * `ModbusRequestError` naming the unit, function, address and value otherwise.
 *
 * Errors: an exception reply rejects with `ModbusExceptionError` (code and its meaning); no reply
 * within the timeout with `ModbusTimeoutError`; the connection lost with `ConnectionLostError`
 * (lib/io/errors); not connected with `NotConnectedError`. Each message begins with the unit
 * (`tcp://127.0.0.1:5020 unit 3`); a device adds its own name and operation in front.
 */
export interface ModbusUnit {
  readonly unitId: number;
  /** How messages name the unit: `<bus> unit <id>`. */
  readonly label: string;
  readCoils(address: number, count: number, options?: ModbusRequestOptions): Promise<boolean[]>;
  readDiscreteInputs(address: number, count: number, options?: ModbusRequestOptions): Promise<boolean[]>;
  readHoldingRegisters(address: number, count: number, options?: ModbusRequestOptions): Promise<number[]>;
  readInputRegisters(address: number, count: number, options?: ModbusRequestOptions): Promise<number[]>;
  /** FC 5. */
  writeCoil(address: number, value: boolean, options?: ModbusRequestOptions): Promise<void>;
  /** FC 15. */
  writeCoils(address: number, values: readonly boolean[], options?: ModbusRequestOptions): Promise<void>;
  /** FC 6. */
  writeRegister(address: number, value: number, options?: ModbusRequestOptions): Promise<void>;
  /** FC 16. */
  writeRegisters(address: number, values: readonly number[], options?: ModbusRequestOptions): Promise<void>;
}

/**
 * The bus's events, as devices on it see them:
 * - `status`: the connection's status changes (the reconnect loop's statuses and details);
 * - `up`: a session began (first connect or reconnect): devices write an owed stop first;
 * - `down`: a session ended (`reason` says why); requests in flight failed with ConnectionLostError.
 */
export interface ModbusBusEvents {
  status: [status: ConnectionStatus, detail: StatusDetail];
  up: [];
  down: [reason: string];
}

/**
 * A bus as the devices on it hold it. The bus is shared: each device `acquire`s it when it
 * opens (the first acquire connects) and calls the returned release when it closes (the last
 * release disconnects). `status` and `detail` are the connection's current ones, for a device
 * that attaches after the bus connected.
 */
export interface ModbusBusLink {
  /** How messages name the bus: its address (`tcp://10.0.0.5:502`, `/dev/ttyUSB0`). */
  readonly label: string;
  readonly status: ConnectionStatus;
  readonly detail: StatusDetail;
  /** The handle for one unit id (1–247; 0 is broadcast and refused; 255 is allowed on TCP only). */
  unit(unitId: number): ModbusUnit;
  acquire(): () => Promise<void>;
  on<K extends keyof ModbusBusEvents>(event: K, listener: (...args: ModbusBusEvents[K]) => void): unknown;
  off<K extends keyof ModbusBusEvents>(event: K, listener: (...args: ModbusBusEvents[K]) => void): unknown;
}
