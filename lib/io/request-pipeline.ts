import type { PendingRequest } from './pending-request';

/** Pipelining limits: how much may be sent ahead of the replies. */
export interface PipelineOptions {
  /** Requests written and still owed a reply, at most. Default 1 (strict send-response). */
  maxInFlight?: number;
  /**
   * Bytes (line ending included) of requests still owed a reply, at most; a request that does
   * not fit waits, unless nothing is in flight. GRBL character counting: 128. Default unlimited.
   */
  maxInFlightBytes?: number;
}

/**
 * The requests and lines waiting for their turn, in call order, and the rule that decides when
 * the first of them may be written. It never reorders: a request that does not fit holds back
 * everything behind it (a line sent without reply included), so the device sees the call order.
 */
export class RequestPipeline {
  private readonly maxInFlight: number;
  private readonly maxInFlightBytes: number;
  private queue: PendingRequest[] = [];

  /** Validates the limits: a bad one throws a `RangeError` naming it. */
  constructor(options: PipelineOptions = {}) {
    this.maxInFlight = options.maxInFlight ?? 1;
    this.maxInFlightBytes = options.maxInFlightBytes ?? Infinity;
    if (!(Number.isInteger(this.maxInFlight) && this.maxInFlight >= 1)) {
      throw new RangeError(`pipeline.maxInFlight must be a whole number, 1 or more, got ${this.maxInFlight}`);
    }
    if (!(this.maxInFlightBytes >= 1)) throw new RangeError(`pipeline.maxInFlightBytes must be 1 or more, got ${this.maxInFlightBytes}`);
  }

  /** Requests and lines waiting for their turn. */
  get length(): number {
    return this.queue.length;
  }

  /** Puts `pending` at the back of the queue. */
  add(pending: PendingRequest): void {
    this.queue.push(pending);
  }

  /** Takes `pending` out of the queue (it was aborted before its turn); false when it was not there. */
  remove(pending: PendingRequest): boolean {
    const before = this.queue.length;
    this.queue = this.queue.filter((p) => p !== pending);
    return this.queue.length !== before;
  }

  /** Empties the queue, returning what waited, oldest first. */
  takeAll(): PendingRequest[] {
    const all = this.queue;
    this.queue = [];
    return all;
  }

  /**
   * Takes the first waiting entry if it may be written now, given the requests still owed a
   * reply (`inFlight`, oldest first): nothing may pass an exclusive request in flight; an empty
   * pipeline takes anything; otherwise an exclusive request waits, and so does anything once
   * `maxInFlight` requests are owed a reply; a line without reply then goes, and a request goes
   * when its bytes fit within `maxInFlightBytes` with theirs.
   */
  next(inFlight: readonly PendingRequest[]): PendingRequest | undefined {
    const first = this.queue[0];
    if (!first || !this.hasRoomFor(first, inFlight)) return undefined;
    this.queue.shift();
    return first;
  }

  private hasRoomFor(next: PendingRequest, inFlight: readonly PendingRequest[]): boolean {
    if (inFlight.some((p) => p.exclusive)) return false;
    if (inFlight.length === 0) return true;
    if (next.exclusive || inFlight.length >= this.maxInFlight) return false;
    if (!next.expectsReply) return true;
    const bytes = inFlight.reduce((sum, p) => sum + p.bytes.length, 0);
    return bytes + next.bytes.length <= this.maxInFlightBytes;
  }
}
