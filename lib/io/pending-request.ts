import type { ReplyMatcher } from './reply-matchers';

/** A complete reply. */
export interface Reply {
  /** The line the matcher called final. */
  final: string;
  /** Lines the matcher called parts, in arrival order. */
  parts: readonly string[];
}

/**
 * One request or line from the moment `request()`/`send()` accepts it until its promise settles,
 * and, for a written request that gave up, until the device's late reply is absorbed. The
 * pipeline holds it while it waits for its turn, the in-flight list while it is owed a reply.
 */
export class PendingRequest {
  /** What goes on the wire: the line and the line ending. */
  readonly bytes: Buffer;
  /** Lines the matcher called parts so far. */
  parts: string[] = [];
  /** Its promise has settled (resolved or rejected); it may still be owed a reply (`ghost`). */
  settled = false;
  /** Handed to the transport. */
  written = false;
  /** Settled (timed out or aborted) but its reply is still expected and absorbed. */
  ghost = false;
  /** The reply timeout while it waits; then how long its late reply is still expected. */
  timer: NodeJS.Timeout | undefined;
  private onAbort: (() => void) | undefined;

  constructor(
    readonly line: string,
    lineEnding: string,
    /** False for `send()`: a line that gets no reply and takes no pipeline slot. */
    readonly expectsReply: boolean,
    readonly exclusive: boolean,
    readonly isReply: ReplyMatcher,
    readonly timeoutMs: number,
    readonly signal: AbortSignal | undefined,
    private readonly resolve: (value: Reply | undefined) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.bytes = Buffer.from(line + lineEnding, 'utf8');
  }

  /** Calls `abort` once when the request's signal fires (until it settles). */
  onSignal(abort: () => void): void {
    if (!this.signal) return;
    this.onAbort = abort;
    this.signal.addEventListener('abort', abort, { once: true });
  }

  /** Settles the promise once: with `error` when given, else with `reply` (nothing for a line sent without reply). */
  settle(error: unknown, reply?: Reply): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    if (error !== undefined) this.reject(error);
    else this.resolve(this.expectsReply ? reply : undefined);
  }
}
