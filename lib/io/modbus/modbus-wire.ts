import type { ModbusRequest, ReplyValue } from './pdu';

/** What a wire tells the bus. */
export interface WireHost {
  /** A request that was out got its reply (values, or the error its reply means). */
  replied(request: ModbusRequest, result: ReplyValue | Error): void;
  /** Bytes or a frame that answer no request were thrown away (`why` says what they were). */
  discarded(why: string): void;
  /** The byte stream cannot be framed any more: end the session, saying why. */
  broken(why: string): void;
  /** The wire can take a request again (a silence it waited out is over). */
  ready(): void;
}

/**
 * A Modbus framing on a byte stream (TCP's MBAP header with transaction ids, or RTU's unit id
 * and CRC): it frames requests, matches replies to them and says when another may go out. The
 * bus owns queueing, timeouts and the connection.
 */
export interface ModbusWire {
  /** Requests written and owed a reply (a TCP request that timed out is no longer counted). */
  readonly inFlight: number;
  /** True when a request may be written now (a stop request may exceed TCP's in-flight bound). */
  canSend(stop: boolean): boolean;
  /** Bytes `request`'s frame takes. */
  frameLength(request: ModbusRequest): number;
  /** Writes `request`'s frame at `at` and counts it as out; returns the offset after it. */
  writeFrame(request: ModbusRequest, out: Buffer, at: number): number;
  /** Bytes from the transport. */
  receive(chunk: Buffer): void;
  /** `request` timed out: its reply, should it still come, must not be taken for another's. */
  timedOut(request: ModbusRequest): void;
  /** The session ended: forget everything; returns the requests that were out. */
  reset(): ModbusRequest[];
}
