/** One entry of an instrument's error queue. */
export interface ScpiErrorEntry {
  readonly code: number;
  readonly text: string;
  /** Why the simulator raised it (for test failures and logs); `SYSTem:ERRor?` does not print it. */
  readonly detail?: string;
}

/**
 * The SCPI error/event queue: first in, first out, bounded. When the queue is full the newest
 * entry is replaced by `-350,"Queue overflow"` (SCPI-99 §21.8: the overflow marks where errors
 * were lost, so it takes the last slot instead of pushing out the oldest, which the user has not
 * read yet). Reading an empty queue yields `0,"No error"`.
 */
export class ErrorQueue {
  private readonly entries: ScpiErrorEntry[] = [];

  /** @param capacity how many entries fit, the overflow marker included (Keysight keeps 20). */
  constructor(readonly capacity = 20) {
    if (!Number.isInteger(capacity) || capacity < 2) {
      throw new RangeError(`An error queue needs room for at least 2 entries, not ${capacity}.`);
    }
  }

  /** Appends an error; if the queue is full, the last entry becomes the overflow marker instead. */
  push(code: number, text: string, detail?: string): void {
    if (this.entries.length < this.capacity) {
      this.entries.push(detail === undefined ? { code, text } : { code, text, detail });
      return;
    }
    this.entries[this.capacity - 1] = { code: -350, text: 'Queue overflow' };
  }

  /** Removes and returns the oldest entry, or `{0, "No error"}` when empty. */
  shift(): ScpiErrorEntry {
    return this.entries.shift() ?? { code: 0, text: 'No error' };
  }

  /** Empties the queue (`*CLS`). */
  clear(): void {
    this.entries.length = 0;
  }

  /** Number of unread entries. */
  get length(): number {
    return this.entries.length;
  }

  /** A copy of the unread entries, oldest first, for tests and demos; reading it removes nothing. */
  snapshot(): ScpiErrorEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }
}
