import type { ModbusRequest } from './pdu';

/** One unit's queue of requests waiting to be written, and how many of its requests are out. */
export class UnitQueue {
  head: ModbusRequest | undefined = undefined;
  tail: ModbusRequest | undefined = undefined;
  /** Requests of this unit written and owed a reply. */
  inFlight = 0;
  /** True while the unit is in the round-robin ring. */
  inRing = false;

  constructor(readonly unitId: number) {}

  push(request: ModbusRequest): void {
    if (this.tail) this.tail.next = request;
    else this.head = request;
    this.tail = request;
  }

  /** The first request still waiting (requests aborted meanwhile are dropped here). */
  peek(): ModbusRequest | undefined {
    let head = this.head;
    while (head !== undefined && head.state === 2) head = this.shift();
    return head;
  }

  shift(): ModbusRequest | undefined {
    const head = this.head;
    if (head === undefined) return undefined;
    this.head = head.next;
    if (this.head === undefined) this.tail = undefined;
    head.next = undefined;
    return this.head;
  }
}

/**
 * The bus's waiting requests: a stop lane, taken first and in order whatever the unit, then the
 * units in turn (round robin), one request per turn. A unit with `perUnit` requests already out
 * sits its turn out, so a unit that stops answering holds at most `perUnit` slots while the
 * others' requests keep going. Requests aborted while queued are skipped as they come up.
 */
export class FairQueue {
  private stopHead: ModbusRequest | undefined = undefined;
  private stopTail: ModbusRequest | undefined = undefined;
  private readonly ring: UnitQueue[] = [];
  private cursor = 0;

  pushStop(request: ModbusRequest): void {
    if (this.stopTail) this.stopTail.next = request;
    else this.stopHead = request;
    this.stopTail = request;
  }

  push(unit: UnitQueue, request: ModbusRequest): void {
    unit.push(request);
    if (!unit.inRing) {
      unit.inRing = true;
      this.ring.push(unit);
    }
  }

  /** The next stop request, taken off the lane; undefined when none waits. */
  takeStop(): ModbusRequest | undefined {
    let head = this.stopHead;
    while (head !== undefined) {
      this.stopHead = head.next;
      if (this.stopHead === undefined) this.stopTail = undefined;
      head.next = undefined;
      if (head.state !== 2) return head;
      head = this.stopHead;
    }
    return undefined;
  }

  /** True when a stop request waits. */
  hasStop(): boolean {
    while (this.stopHead !== undefined && this.stopHead.state === 2) {
      const dead = this.stopHead;
      this.stopHead = dead.next;
      dead.next = undefined;
      if (this.stopHead === undefined) this.stopTail = undefined;
    }
    return this.stopHead !== undefined;
  }

  /**
   * The next normal request in turn from a unit with fewer than `perUnit` requests out, taken
   * off its queue; the turn passes to the unit after it. Units with nothing waiting leave the ring.
   */
  take(perUnit: number): ModbusRequest | undefined {
    const ring = this.ring;
    let scanned = 0;
    while (scanned < ring.length) {
      if (this.cursor >= ring.length) this.cursor = 0;
      const unit = ring[this.cursor];
      const head = unit.peek();
      if (head === undefined) {
        unit.inRing = false;
        ring.splice(this.cursor, 1);
        continue;
      }
      this.cursor++;
      scanned++;
      if (unit.inFlight >= perUnit) continue;
      unit.shift();
      return head;
    }
    return undefined;
  }

  /** Every waiting request, taken off the queues (the session ended or the bus closed). */
  takeAll(): ModbusRequest[] {
    const all: ModbusRequest[] = [];
    for (let r = this.takeStop(); r; r = this.takeStop()) all.push(r);
    for (const unit of this.ring) {
      for (let r = unit.peek(); r; r = unit.peek()) {
        unit.shift();
        all.push(r);
      }
      unit.inRing = false;
    }
    this.ring.length = 0;
    this.cursor = 0;
    return all;
  }
}
