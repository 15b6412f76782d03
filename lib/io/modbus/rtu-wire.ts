import { crc16 } from './crc16';
import type { ModbusRequest } from './pdu';
import type { ModbusWire, WireHost } from './modbus-wire';

/** The longest RTU frame (Modbus over Serial Line V1.02 §2.5.1). */
const MAX_FRAME = 256;

/** The RTU line's timing, from its settings. */
export interface RtuTiming {
  /** The 3.5-character silence that separates frames, ms (1.75 ms above 19200 baud). */
  interFrameMs: number;
  /** After a timeout or a garbled frame: how long the line must stay silent before the next request. */
  recoveryMs: number;
}

/** t3.5 for a line: 3.5 characters of 1 start, 8 data, parity and stop bits; fixed 1.75 ms above 19200 baud. */
export function interFrameMs(baudRate: number, parity: string, stopBits: number): number {
  if (baudRate > 19200) return 1.75;
  const bits = 1 + 8 + (parity === 'none' ? 0 : 1) + stopBits;
  return (3.5 * bits * 1000) / baudRate;
}

/**
 * Modbus RTU framing: unit id, PDU, CRC-16 (low byte first). One request is out at a time; the
 * reply's length is known from its function code and byte count, so a reply is complete as soon
 * as its last byte arrives. A complete frame with a bad CRC rejects the request (a sentence), a
 * good frame from another unit is discarded (counted) and the request keeps waiting; bytes with
 * no request out are discarded. After a timeout, a bad CRC or stray bytes the line must be
 * silent for `recoveryMs` (each byte restarts the wait and is discarded) before the next request
 * goes, so a late reply is not taken for the next request's; between a reply and the next
 * request the line is left silent for the inter-frame time.
 */
export class RtuWire implements ModbusWire {
  private current: ModbusRequest | undefined;
  private readonly rx = Buffer.alloc(MAX_FRAME);
  private rxLength = 0;
  /** `performance.now()` before which nothing may be written. */
  private quietUntil = 0;
  /** True while waiting for the line to fall silent (after a timeout or garbage). */
  private recovering = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly host: WireHost, private readonly timing: RtuTiming) {}

  get inFlight(): number {
    return this.current === undefined ? 0 : 1;
  }

  canSend(): boolean {
    if (this.current !== undefined || this.recovering) return false;
    const wait = this.quietUntil - performance.now();
    if (wait <= 0) return true;
    this.wake(wait);
    return false;
  }

  frameLength(request: ModbusRequest): number {
    return 3 + request.pduLength();
  }

  writeFrame(request: ModbusRequest, out: Buffer, at: number): number {
    this.current = request;
    this.rxLength = 0;
    out[at] = request.unitId;
    const end = request.writePdu(out, at + 1);
    const crc = crc16(out, at, end);
    out[end] = crc & 0xff;
    out[end + 1] = crc >> 8;
    return end + 2;
  }

  receive(chunk: Buffer): void {
    const request = this.current;
    if (request === undefined) {
      this.host.discarded(`${chunk.length} byte${chunk.length === 1 ? '' : 's'} with no request out`);
      this.recover();
      return;
    }
    for (let i = 0; i < chunk.length; i++) {
      if (this.rxLength === MAX_FRAME) return this.garbled(request, 'it is longer than an RTU frame can be (256 bytes)');
      this.rx[this.rxLength++] = chunk[i];
      const expected = this.expectedLength();
      if (expected < 0) return this.garbled(request, `it has function code ${this.rx[1]}, which this bus never asked for`);
      if (this.rxLength === expected) {
        if (crc16(this.rx, 0, expected) !== 0) {
          this.host.discarded(`a ${expected}-byte frame with a bad CRC`);
          return this.garbled(request, 'its CRC is wrong (a corrupted frame)');
        }
        const unit = this.rx[0];
        this.rxLength = 0;
        if (unit !== request.unitId) {
          this.host.discarded(`a frame from unit ${unit} while unit ${request.unitId} was asked`);
          continue;
        }
        this.current = undefined;
        this.quietUntil = performance.now() + this.timing.interFrameMs;
        // The frame is copied: `rx` is reused for the next reply.
        const frame = Buffer.from(this.rx.subarray(1, expected - 2));
        this.host.replied(request, request.decodeReply(frame, 0, frame.length));
        if (i + 1 < chunk.length) {
          this.host.discarded(`${chunk.length - i - 1} bytes after the reply`);
          this.recover();
        }
        return;
      }
    }
  }

  /** The length the frame in `rx` will have, 0 when not known yet, -1 for an unknown function. */
  private expectedLength(): number {
    if (this.rxLength < 2) return 0;
    const fc = this.rx[1];
    if (fc & 0x80) return 5;
    switch (fc) {
      case 1: case 2: case 3: case 4:
        return this.rxLength < 3 ? 0 : 5 + this.rx[2];
      case 5: case 6: case 15: case 16:
        return 8;
      default:
        return -1;
    }
  }

  private garbled(request: ModbusRequest, why: string): void {
    this.current = undefined;
    this.rxLength = 0;
    this.host.replied(request, request.badReply(why));
    this.recover();
  }

  timedOut(request: ModbusRequest): void {
    if (this.current !== request) return;
    this.current = undefined;
    this.rxLength = 0;
    this.recover();
  }

  /** Waits for `recoveryMs` of silence; every byte meanwhile restarts the wait. */
  private recover(): void {
    this.recovering = true;
    this.rxLength = 0;
    this.wake(this.timing.recoveryMs);
  }

  private wake(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.recovering = false;
      this.host.ready();
    }, ms);
  }

  reset(): ModbusRequest[] {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.recovering = false;
    this.rxLength = 0;
    const outstanding = this.current ? [this.current] : [];
    this.current = undefined;
    return outstanding;
  }
}
