import { EventEmitter } from 'node:events';
import { connectionHealth } from '../connection-health';
import type { DeviceStatus } from '../../device/device';
import { WorkcellError } from '../../errors/workcell-error';
import type { BackoffOptions } from '../../io/backoff';
import { createTransport } from '../../io/create-transport';
import { LineConnection, type Reply, type RequestOptions } from '../../io/line-connection';
import { untilFinal, type ReplyMatcher } from '../../io/reply-matchers';
import type { SerialSettings } from '../../io/serial-transport';
import { GrblCommandError } from './grbl-errors';
import { parseBanner } from './status-report';

/** GRBL's real-time bytes: acted on the moment they arrive, never queued behind lines. */
export const REALTIME = { status: 0x3f, cycleStart: 0x7e, feedHold: 0x21, reset: 0x18, jogCancel: 0x85 } as const;

/** True for the line that ends GRBL's answer to a line: `ok` or `error:N`. */
export const isFinalReply = (line: string): boolean => {
  const t = line.trim();
  return t === 'ok' || /^error:\d+$/.test(t);
};
/** GRBL answers every line with exactly one `ok` or `error:N`; everything else is pushed. */
export const grblReply: ReplyMatcher = untilFinal(isFinalReply);
/** `$#` and `$G` answer `[...]` lines, then `ok`. */
export const bracketReply: ReplyMatcher = untilFinal(isFinalReply, (l) => l.trim().startsWith('['));

/** The `N` of an `error:N` reply, or undefined for `ok`. */
export function errorCode(reply: Reply): number | undefined {
  const m = /^error:(\d+)$/.exec(reply.final.trim());
  return m ? Number(m[1]) : undefined;
}

/** A coordinate as GRBL reads it: at most 4 decimals, no trailing zeros, no exponent. */
export function formatCoordinate(n: number): string {
  const s = n.toFixed(4).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}

/** How a gantry's connection is made (see `gantryConnection`). */
export interface GrblLinkOptions {
  /** Serial line settings; GRBL talks 115200 8N1. */
  serial?: SerialSettings;
  /** Reply timeout for commands that do not wait for motion, ms. Default 10000. */
  replyTimeoutMs?: number;
  /** `character-counting` (default: fill GRBL's 128-byte buffer) or `send-response` (one line at a time). */
  streaming?: 'character-counting' | 'send-response';
  /** GRBL's receive buffer, bytes (RX_BUFFER_SIZE). Default 128; grblHAL builds often have 1024. */
  rxBufferBytes?: number;
  reconnect?: BackoffOptions | false;
}

/**
 * A line connection set up for GRBL: `\n` line endings, one `ok`/`error:N` per line, character
 * counting against the receive buffer (or one line at a time), and late replies always
 * expected (GRBL answers every line it took, unless it is reset: then the driver discards them).
 */
export function gantryConnection(address: string, options: GrblLinkOptions = {}): LineConnection {
  const sendResponse = options.streaming === 'send-response';
  return new LineConnection(createTransport(address, { serial: { baudRate: 115200, ...options.serial } }), {
    framing: { delimiter: '\n', maxLineBytes: 512 },
    lineEnding: '\n',
    isReply: grblReply,
    timeoutMs: options.replyTimeoutMs ?? 10_000,
    pipeline: sendResponse ? { maxInFlight: 1 } : { maxInFlight: 64, maxInFlightBytes: options.rxBufferBytes ?? 128 },
    lateReplyMs: Infinity,
    reconnect: options.reconnect,
  });
}

/** A line GRBL pushed (one that answers no request), by what it is. */
export type PushedLine =
  | { kind: 'empty' }
  | { kind: 'status'; text: string }
  | { kind: 'banner'; firmware: string; version: string }
  | { kind: 'alarm'; code: number }
  /** `[MSG:Reset to continue]`: after a hard or soft limit GRBL takes nothing but a soft reset. */
  | { kind: 'reset-to-continue' }
  /** Other feedback messages: `[MSG:…]`, `[GC:…]`, … */
  | { kind: 'feedback'; text: string }
  /** Setting and startup-line echoes (`$0=10`, `>G54:ok`). */
  | { kind: 'echo'; text: string }
  /** An `ok` or `error:N` nobody was owed (absorbed after a reset). */
  | { kind: 'stray-reply'; text: string }
  /** Anything GRBL does not send: a line garbled on the wire. */
  | { kind: 'unknown'; text: string };

/**
 * What a pushed line is, from its text alone (trimmed): a status report `<…>`, the startup
 * banner, `ALARM:N`, `[MSG:Reset to continue]`, another bracketed feedback message, a setting
 * or startup-line echo, a final reply nobody was owed, or a line GRBL does not send.
 */
export function classifyPushedLine(raw: string): PushedLine {
  const line = raw.trim();
  if (line === '') return { kind: 'empty' };
  if (line.startsWith('<')) return { kind: 'status', text: line };
  const banner = parseBanner(line);
  if (banner) return { kind: 'banner', ...banner };
  const alarm = /^ALARM:(\d+)$/.exec(line);
  if (alarm) return { kind: 'alarm', code: Number(alarm[1]) };
  if (line === '[MSG:Reset to continue]') return { kind: 'reset-to-continue' };
  if (line.startsWith('[') && line.endsWith(']')) return { kind: 'feedback', text: line };
  if (/^\$\d+=/.test(line) || line.startsWith('>')) return { kind: 'echo', text: line };
  if (isFinalReply(line)) return { kind: 'stray-reply', text: line };
  return { kind: 'unknown', text: line };
}

/** A line written to GRBL (or queued for it) that still awaits its `ok` or `error:N`. */
export interface OwedReply {
  /** The line as sentences name it: `"G4 P0"`, or `line 12 "G1X5"` for a program line. */
  label: string;
  /** How long GRBL may take over the line before it answers, ms: the P of a dwell (`G4 P2` waits 2 s), else 0. */
  dwellMs: number;
}

/** The dwell a line commands (`G4 P<seconds>`), ms; 0 for any other line. */
export function dwellOf(line: string): number {
  const text = line.replace(/\s+/g, '').toUpperCase();
  if (!/(?:^|[^0-9.])G0*4(?![0-9.])/.test(text)) return 0;
  const p = /P(\d*\.?\d+)/.exec(text);
  return p ? Number(p[1]) * 1000 : 0;
}

/** What a `GrblLink` tells its device. */
export interface GrblLinkEvents {
  /** The link came up: a new session began, and nothing has been written on it yet. */
  'session-start': [];
  /** The session ended (`why`: the link's reason, or a close); its signal has fired. */
  'session-end': [why: string];
  /** The device's health for the connection's status (connecting, reconnecting, disconnected, closed). */
  health: [health: { status: DeviceStatus; detail: string }];
  /** A line GRBL pushed (one that answers no request), classified. */
  pushed: [line: PushedLine];
}

/**
 * One gantry's link to GRBL: its connection, cut into sessions (one per time the link is up,
 * each with a signal that fires when it ends), the lines GRBL pushes classified, and commands
 * whose `error:N` becomes a GrblCommandError.
 */
export class GrblLink extends EventEmitter<GrblLinkEvents> {
  private current: AbortController | undefined;
  private loss = 'the link is down';
  private readonly owed = new Set<OwedReply>();

  constructor(
    readonly connection: LineConnection,
    private readonly device: string,
  ) {
    super();
    connection.on('status', (status, detail) => {
      if (status === 'connected' || status === 'idle') return;
      if (status !== 'connecting') this.end(`${connection.description}: ${detail.reason ?? status}`);
      const health = connectionHealth(status, detail, connection.description);
      if (health) this.emit('health', health);
    });
    connection.on('connected', () => {
      this.end('a new session began');
      this.current = new AbortController();
      this.emit('session-start');
    });
    connection.on('message', (line) => this.emit('pushed', classifyPushedLine(line)));
  }

  /** The session in progress (undefined while the link is down). */
  get session(): AbortController | undefined {
    return this.current;
  }

  /**
   * Ends the session in progress, if any (`why`: the link's reason, or a close): its signal
   * fires with "Mill: the link to GRBL dropped (…)", and `'session-end'` follows.
   */
  end(why: string): void {
    const session = this.current;
    if (!session) return;
    this.loss = why;
    this.current = undefined;
    session.abort(new WorkcellError('link-dropped', `${this.device}: the link to GRBL dropped (${why})`, { subject: this.device }));
    this.emit('session-end', why);
  }

  /** The error of a stop that cannot finish because the link dropped: "Mill: stop failed: the link dropped `phase` (why)". */
  linkDropped(phase: string): WorkcellError {
    return new WorkcellError('stop-failed', `${this.device}: stop failed: the link dropped ${phase} (${this.loss})`, { subject: this.device, operation: 'stop' });
  }

  /**
   * Sends one line as `LineConnection.request` does, and counts it as owed a reply (see
   * `oldestOwed`) until its promise settles; `label` names it (default: the line quoted).
   */
  request(line: string, options: RequestOptions, label = JSON.stringify(line)): Promise<Reply> {
    const entry: OwedReply = { label, dwellMs: dwellOf(line) };
    this.owed.add(entry);
    const reply = this.connection.request(line, options);
    reply.then(() => this.owed.delete(entry), () => this.owed.delete(entry));
    return reply;
  }

  /**
   * The oldest line sent through `request` that still awaits its reply (GRBL answers in order;
   * the same object while it is owed), with the dwell of every line owed a reply, or undefined
   * when none is owed.
   */
  oldestOwed(): { oldest: OwedReply; dwellMs: number } | undefined {
    let oldest: OwedReply | undefined;
    let dwellMs = 0;
    for (const entry of this.owed) {
      oldest ??= entry;
      dwellMs += entry.dwellMs;
    }
    return oldest && { oldest, dwellMs };
  }

  /** Sends one line and resolves on `ok`; `error:N` throws a GrblCommandError. `$` commands go alone (`exclusive`). */
  async command(operation: string, line: string, signal: AbortSignal, exclusive: boolean, timeoutMs: number): Promise<void> {
    const reply = await this.request(line, { signal, exclusive, timeoutMs });
    const code = errorCode(reply);
    if (code !== undefined) throw new GrblCommandError(this.device, operation, line, code);
  }
}
