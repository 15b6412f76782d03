import { RequestTimeoutError } from './errors';
import type { PendingRequest, Reply } from './pending-request';

/** What the in-flight list tells the connection above it. */
export interface InFlightEvents {
  /** A line that belongs to no request. */
  message(line: string): void;
  /** The reply of a request that had already given up arrived and was absorbed. */
  lateReply(info: { request: string; final: string; parts: readonly string[] }): void;
  /** A request left the list (answered, or its late reply is no longer expected): the pipeline may have room. */
  freed(): void;
}

/**
 * Request/reply matching: the requests written and still owed a reply, in write order. Each
 * incoming line is offered to the oldest one's matcher only; `'final'` completes it, `'part'`
 * adds to it, `'push'` (or a matcher that throws) is a `message`. With nothing owed, every line
 * is a `message`. A request that times out or is aborted after it was written stays in the list
 * as a ghost until its reply arrives (absorbed, `lateReply`) or the late-reply grace passes, so
 * a late reply is never taken for the next request's.
 */
export class InFlightRequests {
  private list: PendingRequest[] = [];

  /**
   * `lateReplyMs`: how long a request that gave up still expects its reply; undefined for the
   * request's own timeout, `Infinity` for devices that always answer.
   */
  constructor(
    private readonly description: string,
    private readonly lateReplyMs: number | undefined,
    private readonly events: InFlightEvents,
  ) {}

  /** The requests owed a reply, oldest first (ghosts included). */
  get requests(): readonly PendingRequest[] {
    return this.list;
  }

  /** `pending` was written: it is owed a reply, and its timeout starts now. */
  written(pending: PendingRequest): void {
    this.list.push(pending);
    if (Number.isFinite(pending.timeoutMs)) {
      pending.timer = setTimeout(() => this.timeOut(pending), pending.timeoutMs);
    }
  }

  /** Offers an incoming line to the oldest request owed a reply (see the class doc). */
  offer(line: string): void {
    const head = this.list[0];
    if (!head) {
      this.events.message(line);
      return;
    }
    let verdict;
    try {
      verdict = head.isReply(line, head.parts);
    } catch {
      verdict = 'push';
    }
    if (verdict === 'part') {
      head.parts.push(line);
    } else if (verdict === 'final') {
      this.list.shift();
      const reply: Reply = { final: line, parts: head.parts };
      if (head.ghost) {
        clearTimeout(head.timer);
        this.events.lateReply({ request: head.line, ...reply });
      } else {
        head.settle(undefined, reply);
      }
      this.events.freed();
    } else {
      this.events.message(line);
    }
  }

  /**
   * A written request that gave up (settled by an abort) still owes the device's reply: it
   * stays, as a ghost, for the late-reply grace. Nothing happens for one no longer in the list.
   */
  gaveUp(pending: PendingRequest): void {
    if (!this.list.includes(pending)) return;
    pending.ghost = true;
    const graceMs = this.lateReplyMs ?? pending.timeoutMs;
    if (Number.isFinite(graceMs)) {
      pending.timer = setTimeout(() => {
        this.forget(pending);
        this.events.freed();
      }, graceMs);
    }
  }

  /** Drops `pending` from the list without waiting for its reply (its write failed). */
  forget(pending: PendingRequest): void {
    clearTimeout(pending.timer);
    this.list = this.list.filter((p) => p !== pending);
  }

  /** Empties the list (the device will not answer, or the session ended), returning what was owed, oldest first. */
  takeAll(): PendingRequest[] {
    const all = this.list;
    this.list = [];
    for (const pending of all) clearTimeout(pending.timer);
    return all;
  }

  private timeOut(pending: PendingRequest): void {
    if (pending.settled) return;
    pending.settle(new RequestTimeoutError(this.description, pending.line, pending.timeoutMs, pending.parts));
    this.gaveUp(pending);
  }
}
