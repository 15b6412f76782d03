import type { ModbusRequest } from './pdu';
import type { ModbusWire, WireHost } from './modbus-wire';

/** Ids retired by timeouts beyond this many are reclaimed oldest first (their replies are 32768 requests late). */
const MAX_RETIRED = 32768;

/**
 * Modbus TCP framing: a 7-byte MBAP header (transaction id, protocol id 0, length, unit id)
 * before the PDU. Up to `maxInFlight` requests are out at once, each under its own 16-bit
 * transaction id. A request that timed out keeps its id retired until its late reply arrives
 * (absorbed, counted) or the session ends, so a late reply never settles another request.
 * Replies are parsed straight from the socket's chunks; only a frame split across chunks is
 * copied.
 */
export class TcpWire implements ModbusWire {
  inFlight = 0;
  private readonly out: (ModbusRequest | undefined)[] = new Array(65536).fill(undefined);
  private readonly retired = new Uint8Array(65536);
  private readonly retiredOrder: number[] = [];
  private nextTid = 1;
  private partial: Buffer | undefined;

  constructor(private readonly host: WireHost, private readonly maxInFlight: number) {}

  canSend(stop: boolean): boolean {
    return stop || this.inFlight < this.maxInFlight;
  }

  frameLength(request: ModbusRequest): number {
    return 7 + request.pduLength();
  }

  writeFrame(request: ModbusRequest, out: Buffer, at: number): number {
    const tid = this.allocateTid();
    request.tid = tid;
    this.out[tid] = request;
    this.inFlight++;
    const end = request.writePdu(out, at + 7);
    out.writeUInt16BE(tid, at);
    out.writeUInt16BE(0, at + 2);
    out.writeUInt16BE(end - at - 6, at + 4);
    out[at + 6] = request.unitId;
    return end;
  }

  private allocateTid(): number {
    for (;;) {
      const tid = this.nextTid;
      this.nextTid = (tid + 1) & 0xffff;
      if (this.out[tid] === undefined && this.retired[tid] === 0) return tid;
    }
  }

  receive(chunk: Buffer): void {
    let bytes = chunk;
    if (this.partial !== undefined) {
      bytes = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    const end = bytes.length;
    let at = 0;
    while (end - at >= 7) {
      const protocol = (bytes[at + 2] << 8) | bytes[at + 3];
      const length = (bytes[at + 4] << 8) | bytes[at + 5];
      if (protocol !== 0 || length < 2 || length > 254) {
        this.host.broken(`a reply that is not Modbus TCP (protocol id ${protocol}, length ${length})`);
        return;
      }
      const frameEnd = at + 6 + length;
      if (frameEnd > end) break;
      this.frame(bytes, at, frameEnd);
      at = frameEnd;
    }
    if (at < end) this.partial = Buffer.from(bytes.subarray(at));
  }

  private frame(bytes: Buffer, at: number, end: number): void {
    const tid = (bytes[at] << 8) | bytes[at + 1];
    const unit = bytes[at + 6];
    const request = this.out[tid];
    if (request === undefined) {
      if (this.retired[tid] === 1) {
        this.retired[tid] = 0;
        this.host.discarded(`a late reply (transaction ${tid}, unit ${unit}) to a request that had timed out`);
      } else {
        this.host.discarded(`a reply with transaction id ${tid} (unit ${unit}) that no request has`);
      }
      return;
    }
    this.out[tid] = undefined;
    this.inFlight--;
    const result = unit === request.unitId
      ? request.decodeReply(bytes, at + 7, end)
      : request.badReply(`it comes from unit ${unit}`);
    this.host.replied(request, result);
  }

  timedOut(request: ModbusRequest): void {
    const tid = request.tid;
    if (this.out[tid] !== request) return;
    this.out[tid] = undefined;
    this.inFlight--;
    this.retired[tid] = 1;
    this.retiredOrder.push(tid);
    if (this.retiredOrder.length > MAX_RETIRED) {
      // Ids whose late reply came are still listed: only reclaim one that is still retired.
      while (this.retiredOrder.length > MAX_RETIRED) this.retired[this.retiredOrder.shift()!] = 0;
    }
  }

  reset(): ModbusRequest[] {
    const outstanding: ModbusRequest[] = [];
    for (let tid = 0; tid < 65536 && outstanding.length < this.inFlight; tid++) {
      const request = this.out[tid];
      if (request !== undefined) outstanding.push(request);
    }
    this.out.fill(undefined);
    this.retired.fill(0);
    this.retiredOrder.length = 0;
    this.inFlight = 0;
    this.partial = undefined;
    return outstanding;
  }
}
