import { WorkcellError, showValue } from '../../errors/workcell-error';
import { isCancellation } from '../../scope/reasons';
import { IoError, RequestTimeoutError } from '../../io/errors';
import type { LineConnection } from '../../io/line-connection';
import type { ReplyMatcher } from '../../io/reply-matchers';
import { ScpiCommandError, formatScpiError, parseScpiError, type ScpiErrorEntry } from './scpi-error';

/** `*OPC?` answers 1; anything else arriving first is a late reply to something abandoned. */
export const opcReply: ReplyMatcher = (line) => (/^\s*\+?1\s*$/.test(line) ? 'final' : 'push');
/** At most this many `SYST:ERR?` reads per drain: 20 entries on a Keysight plus slack for errors arriving meanwhile. */
const MAX_ERROR_READS = 32;
/** `-410,"Query INTERRUPTED"`: what the instrument logs when our own stop interrupted a query. */
export const QUERY_INTERRUPTED = -410;

/** What a `ScpiLink` needs to know about its instrument. */
export interface ScpiLinkOptions {
  /** The device's name, first in every message. */
  readonly name: string;
  /** Written at once to stop the instrument (`ABOR`). */
  readonly stopCommand: string;
  /** Program message terminator. */
  readonly terminator: string;
  /** Reply timeout of `*OPC?` and `SYST:ERR?`, ms. */
  readonly timeoutMs: number;
  /** Read `SYST:ERR?` after each command and fail it on SCPI errors. */
  readonly errorCheck: boolean;
  /** Errors found and discarded outside an operation (after a stop). */
  readonly warn: (text: string) => void;
}

/**
 * The request/reply stream of one SCPI instrument kept in step, and its error queue read.
 *
 * A query our stop interrupted is never answered, and a reply already on its way may still
 * arrive, so after a stop (`stopped()`) or an abandoned request the stream is out of step:
 * before the next request, `settle()` drops the replies still owed, asks `*OPC?` ignoring every
 * line until its `1`, and drains the errors the stop caused. A query that times out is
 * abandoned the same way (the stop command goes out, so the instrument stops working on it).
 * With the error check on, every command is followed by draining `SYST:ERR?` until
 * `0,"No error"`, and any error fails it as a `ScpiCommandError`.
 */
export class ScpiLink {
  /** True after a stop or an abandoned request: the reply stream must be resynchronised before the next request. */
  private outOfStep = false;

  constructor(
    readonly connection: LineConnection,
    private readonly options: ScpiLinkOptions,
  ) {}

  /** Our stop went out (or is about to): the next request resynchronises first. */
  stopped(): void {
    this.outOfStep = true;
  }

  /** A fresh session owes no replies: nothing to resynchronise. */
  freshSession(): void {
    this.outOfStep = false;
  }

  /** Writes the stop command past anything queued. */
  writeStop(): Promise<void> {
    return this.connection.writeNow(this.options.stopCommand + this.options.terminator);
  }

  /** Writes the stop command (best effort) and marks the reply stream for resynchronisation. */
  abandon(): void {
    this.outOfStep = true;
    if (this.connection.isConnected) this.writeStop().catch(() => undefined);
  }

  /**
   * Before a request after a stop or an abandoned request: drop the replies still owed, ask
   * `*OPC?` and ignore every line before its `1` (late replies), then drain the errors the
   * abort caused (reported as a warning, not as the next operation's failure).
   */
  async settle(signal: AbortSignal): Promise<void> {
    if (!this.outOfStep) return;
    await this.resync(signal);
    const stale = await this.drainErrors('resync', signal);
    const notOurs = stale.filter((e) => e.code !== QUERY_INTERRUPTED);
    if (notOurs.length) this.options.warn(`${this.options.name}: errors in the instrument's queue after a stop were discarded: ${notOurs.map(formatScpiError).join('; ')}`);
  }

  /** Drops the replies still owed and reads up to the `1` of a fresh `*OPC?`: the reply stream is in step again. */
  async resync(signal: AbortSignal): Promise<void> {
    this.connection.discardPendingReplies(`${this.options.name}: the instrument was stopped (${this.options.stopCommand})`);
    await this.connection.request('*OPC?', { signal, isReply: opcReply, timeoutMs: this.options.timeoutMs });
    this.outOfStep = false;
  }

  /** A query: its reply line. A timeout abandons it (stop + resync) and says whether the instrument logged an error. */
  async ask(operation: string, command: string, signal: AbortSignal, timeoutMs: number): Promise<string> {
    try {
      const reply = await this.connection.request(command, { signal, timeoutMs });
      return reply.final.replace(/\r$/, '');
    } catch (err) {
      if (err instanceof RequestTimeoutError && !signal.aborted) {
        this.abandon();
        let errors: ScpiErrorEntry[] = [];
        try {
          await this.resync(signal);
          if (this.options.errorCheck) errors = (await this.drainErrors(operation, signal)).filter((e) => e.code !== QUERY_INTERRUPTED);
        } catch (settleErr) {
          if (isCancellation(settleErr)) throw settleErr;
        }
        const name = this.options.name;
        if (errors.length) throw new ScpiCommandError(name, operation, command, errors, ` (no reply within ${timeoutMs} ms)`);
        throw new WorkcellError('timeout', `${name}: ${operation} ${JSON.stringify(command)}: no reply within ${timeoutMs} ms`, {
          subject: name,
          operation,
          value: command,
          cause: err,
        });
      }
      throw this.explain(operation, command, err);
    }
  }

  /** A command without reply; with the error check on, the error queue tells whether it worked. */
  async tell(operation: string, command: string, signal: AbortSignal): Promise<void> {
    try {
      await this.connection.send(command, { signal });
    } catch (err) {
      throw this.explain(operation, command, err);
    }
    await this.checkErrors(operation, command, signal);
  }

  /** With the error check on: drain the queue and fail with every error found, naming the command. */
  async checkErrors(operation: string, command: string, signal: AbortSignal): Promise<void> {
    if (!this.options.errorCheck) return;
    const errors = await this.drainErrors(operation, signal);
    if (errors.length) throw new ScpiCommandError(this.options.name, operation, command, errors);
  }

  /** Reads `SYST:ERR?` until `0,"No error"`; returns the errors, oldest first. */
  async drainErrors(operation: string, signal: AbortSignal): Promise<ScpiErrorEntry[]> {
    const name = this.options.name;
    const errors: ScpiErrorEntry[] = [];
    for (let i = 0; i < MAX_ERROR_READS; i++) {
      let reply: string;
      try {
        reply = (await this.connection.request('SYST:ERR?', { signal, timeoutMs: this.options.timeoutMs })).final;
      } catch (err) {
        if (err instanceof RequestTimeoutError && !signal.aborted) this.abandon();
        throw this.explain(operation, 'SYST:ERR?', err);
      }
      const entry = parseScpiError(reply);
      if (!entry) {
        throw new WorkcellError('garbled-reply', `${name}: ${operation}: the reply to "SYST:ERR?" is not an error entry (code,"text"): ${showValue(reply)}`, {
          subject: name,
          operation,
          value: reply,
        });
      }
      if (entry.code === 0) return errors;
      errors.push(entry);
    }
    throw new WorkcellError('error-queue', `${name}: ${operation}: the error queue still had entries after ${MAX_ERROR_READS} reads of SYST:ERR?: ${errors.slice(-3).map(formatScpiError).join('; ')}`, {
      subject: name,
      operation,
    });
  }

  /** An I/O error as a sentence naming the device and the operation; cancellations and our own errors pass unchanged. */
  explain(operation: string, command: string, err: unknown): unknown {
    if (isCancellation(err) || !(err instanceof IoError)) return err;
    return new WorkcellError(err.code, `${this.options.name}: ${operation} ${JSON.stringify(command)}: ${err.message}`, {
      subject: this.options.name,
      operation,
      value: command,
      cause: err,
    });
  }
}
