import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { CommandContext } from './context';
import { ErrorQueue, ScpiErrorEntry } from './error-queue';
import { ESR, esrBitForError, ScpiError, STB } from './errors';
import { formatNR1 } from './format';
import { CommandTree, HeaderToken, parseToken, parseUnit, splitUnits } from './parser';
import { ListenAddress, TcpListener } from './server';
import { Session, SessionHost } from './session';

/**
 * A command handler. It returns the response text for a query (nothing for a command), or a
 * promise when it has to wait (a measurement); it raises {@link ScpiError} for anything the
 * instrument would put into its error queue.
 */
export type Handler = (ctx: CommandContext) => string | void | Promise<string | void>;

/** How a header behaves as a command and as a query, with the parameter counts each accepts. */
export interface CommandDef {
  readonly set?: Handler;
  readonly query?: Handler;
  /** [min, max] parameters of the command form; default [0, 0]. Fewer is -109, more is -108. */
  readonly setArgs?: readonly [number, number];
  /** [min, max] parameters of the query form; default [0, 0]. */
  readonly queryArgs?: readonly [number, number];
}

/** Fault injection for testing a driver's error handling; each `…Next…` flag clears itself once used. */
export interface SimulatorFaults {
  /** Corrupt the characters of the next response (its terminator stays, so the reader gets a bad line). */
  garbleNextResponse: boolean;
  /** Drop the next response entirely, as if it were lost; the driver's read times out. */
  silenceNextResponse: boolean;
  /**
   * Answer nothing while true: every command is still received and executed (outputs switch),
   * but no response is sent, as with a broken transmit line or a hung reply path.
   */
  silent: boolean;
  /** Hold every response back this long before sending it (order is kept). */
  delayResponsesMs: number;
}

/** One received program message, as logged in {@link ScpiInstrument.commandLog}. */
export interface CommandLogEntry {
  /** `Date.now()` when the terminator arrived. */
  readonly time: number;
  readonly clientId: number;
  /** The program message without its terminator. */
  readonly message: string;
}

/** Payload of the `'abort'` event. */
export interface AbortEvent {
  readonly time: number;
  /** Client that sent ABORt (0 when called from code, e.g. `*RST` or `close()`). */
  readonly clientId: number;
  /** True if a measurement or other operation was actually in progress and got stopped. */
  readonly interrupted: boolean;
}

/** Options shared by every simulated instrument. */
export interface ScpiInstrumentOptions {
  /** Error queue size including the overflow marker; Keysight keeps 20. */
  readonly errorQueueSize?: number;
  /** Source of randomness in [0, 1) for noise and garbling; pass a seeded one for reproducible tests. */
  readonly random?: () => number;
}

/** `*IDN?` fields, printed comma-separated as IEEE 488.2 §10.14 prescribes. */
export interface Identity {
  readonly manufacturer: string;
  readonly model: string;
  readonly serial: string;
  readonly firmware: string;
}

/** Dialect details where makers differ while following the same standard. */
export interface Dialect {
  /** Keysight prints `+0`, `+128`; Rigol prints `0`, `128`. */
  readonly signedIntegers: boolean;
}

const ABORT_ONLY = /^\s*:?ABOR(?:T)?\s*$/i;

/**
 * The SCPI engine shared by every simulated instrument: command tree with short/long forms and
 * optional nodes, compound messages with the SCPI-99 path rules, the error queue, the IEEE 488.2
 * status registers and common commands, and the transports (any Duplex stream, or a TCP
 * listener with many clients sharing one instrument state).
 *
 * Execution rules (stated here because drivers depend on them):
 * - Only queries answer. The responses to all queries of one program message go out as one line,
 *   separated by `;` (IEEE 488.2 §8.4.1), terminated by `\n`.
 * - After a `;`, a header without a leading `:` continues from the previous header's path (all
 *   its nodes but the last); a leading `:` starts at the root; common `*` commands change nothing.
 * - A command error (-1xx) ends the program message: the parser has lost its place, so the rest
 *   is discarded. Execution errors (-2xx) only skip the unit that caused them.
 *
 * Events: `'command'` ({@link CommandLogEntry}) for every received program message, `'abort'`
 * ({@link AbortEvent}), `'error'`-free by design (SCPI errors go to the queue and to
 * `'scpi-error'` with a {@link ScpiErrorEntry}), plus the models' own (`'output'`, `'reading'`).
 */
export abstract class ScpiInstrument extends EventEmitter {
  /** Fault injection; set the fields directly, e.g. `sim.faults.silenceNextResponse = true`. */
  faults: SimulatorFaults = { garbleNextResponse: false, silenceNextResponse: false, silent: false, delayResponsesMs: 0 };
  /** Every program message received, oldest first (bounded to the last 10 000). */
  readonly commandLog: CommandLogEntry[] = [];
  /** The `*IDN?` identity of this unit. */
  readonly identity: Identity;

  protected readonly random: () => number;
  private readonly errors: ErrorQueue;
  private readonly tree = new CommandTree<CommandDef>();
  private readonly commons = new Map<string, CommandDef>();
  private readonly sessions = new Set<Session>();
  private readonly tcp: TcpListener;
  private nextClientId = 1;
  private esr = 0;
  private ese = 0;
  private sre = 0;
  /** Bumped by *CLS and *RST so an `*OPC` still waiting for its operations forgets to set the bit. */
  private opcGeneration = 0;

  protected constructor(identity: Identity, private readonly dialect: Dialect, options: ScpiInstrumentOptions = {}) {
    super();
    this.identity = identity;
    this.random = options.random ?? Math.random;
    this.errors = new ErrorQueue(options.errorQueueSize ?? 20);
    this.tcp = new TcpListener((socket) => this.attach(socket));
    this.defineCommons();
    this.define('SYSTem:ERRor[:NEXT]', { query: () => this.nextError() });
    this.define('ABORt', { set: (ctx) => this.abort(ctx.clientId) });
  }

  /** The `*IDN?` response. */
  get idn(): string {
    const { manufacturer, model, serial, firmware } = this.identity;
    return `${manufacturer},${model},${serial},${firmware}`;
  }

  /** True while an operation (a DMM measurement) is in progress; always false on models without one. */
  get measuring(): boolean {
    return false;
  }

  /** A copy of the unread error queue, oldest first; reading it does not empty the queue. */
  get errorQueue(): ScpiErrorEntry[] {
    return this.errors.snapshot();
  }

  /** Puts an error into the queue and sets its event bit, as if a command had caused it. */
  pushError(code: number, detail?: string): void {
    const err = new ScpiError(code, detail);
    this.errors.push(err.code, err.text, detail);
    this.esr |= esrBitForError(err.code);
    this.emit('scpi-error', { code: err.code, text: err.text, detail } satisfies ScpiErrorEntry);
  }

  /** The status byte as `*STB?` reports it (EAV, ESB and MSS computed from the current state). */
  get statusByte(): number {
    let stb = 0;
    if (this.errors.length > 0) stb |= STB.EAV;
    if (this.esr & this.ese) stb |= STB.ESB;
    if (stb & this.sre & ~STB.MSS) stb |= STB.MSS;
    return stb;
  }

  // ---- transports -------------------------------------------------------------------------

  /**
   * Serves SCPI over any Duplex stream (a socket, a serial port on a pseudo-terminal, a
   * PassThrough pair in a test). Each attached stream gets its own input buffer; the instrument
   * state is shared. Returns a function that detaches the stream without closing it.
   */
  attach(stream: Duplex): () => void {
    const session = new Session(this.sessionHost, stream, this.nextClientId++);
    this.sessions.add(session);
    const detach = () => {
      session.detach();
      this.sessions.delete(session);
    };
    stream.once('close', detach);
    return detach;
  }

  /**
   * Listens for TCP clients (raw SCPI socket, port 5025 on the real instrument; use port 0 in
   * tests and read the assigned port from the result). Several clients may be connected at once.
   */
  listen(options: { host?: string; port?: number } = {}): Promise<ListenAddress> {
    return this.tcp.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  }

  /** Destroys every TCP client socket abruptly (for reconnection tests); the listener keeps accepting. */
  dropClients(): void {
    this.tcp.dropClients();
  }

  /** Number of TCP clients connected right now. */
  get clientCount(): number {
    return this.tcp.clientCount;
  }

  /**
   * Stops listening, drops TCP clients, detaches every stream and stops any operation in progress
   * (so no timer keeps the process alive). Resolves when the port is released.
   */
  async close(): Promise<void> {
    this.stopOperations();
    for (const s of this.sessions) s.detach();
    this.sessions.clear();
    await this.tcp.close();
  }

  /**
   * Runs one program message (without terminator) as if client `clientId` had sent it, and
   * returns the response line (without terminator) if it contained queries. Synchronous unless a
   * command has to wait. Useful for tests that need no transport.
   */
  execute(message: string, clientId = 0): string | undefined | Promise<string | undefined> {
    let units: string[];
    try {
      units = splitUnits(message);
    } catch (err) {
      this.record(err);
      return undefined;
    }
    return this.runUnits(units, 0, [], [], clientId);
  }

  // ---- for the models ---------------------------------------------------------------------

  /** Registers a header pattern such as `[SOURce<n>:]VOLTage[:LEVel][:IMMediate][:AMPLitude]`. */
  protected define(pattern: string, def: CommandDef): void {
    this.tree.add(pattern, def);
  }

  /** Registers or replaces a common command such as `*TRG` (name without `?`). */
  protected defineCommon(name: string, def: CommandDef): void {
    this.commons.set(name.toUpperCase(), def);
  }

  /** Formats an integer response in this maker's style (`+1` or `1`). */
  protected int(value: number): string {
    return formatNR1(value, this.dialect.signedIntegers);
  }

  /** Restores the power-on defaults of the model (`*RST`); status and error queue are not touched. */
  protected abstract resetState(): void;

  /** Resolves when every pending operation has finished (`*OPC?`, `*WAI`); immediately by default. */
  protected pendingOperations(): Promise<void> | undefined {
    return undefined;
  }

  /** Stops whatever operation is in progress; returns true if there was one. Default: nothing to stop. */
  protected stopOperations(): boolean {
    return false;
  }

  /** Executes ABORt: stops the operation in progress and emits `'abort'`. */
  protected abort(clientId: number): void {
    const interrupted = this.stopOperations();
    this.emit('abort', { time: Date.now(), clientId, interrupted } satisfies AbortEvent);
  }

  // ---- engine -----------------------------------------------------------------------------

  private readonly sessionHost: SessionHost = {
    execute: (message, clientId) => this.execute(message, clientId),
    received: (message, clientId) => {
      const entry: CommandLogEntry = { time: Date.now(), clientId, message };
      this.commandLog.push(entry);
      if (this.commandLog.length > 10_000) this.commandLog.splice(0, this.commandLog.length - 10_000);
      this.emit('command', entry);
    },
    isOutOfBand: (message) => ABORT_ONLY.test(message),
    takeResponseFault: () => {
      const f = { silence: this.faults.silent || this.faults.silenceNextResponse, garble: this.faults.garbleNextResponse, delayMs: this.faults.delayResponsesMs };
      if (!this.faults.silent) this.faults.silenceNextResponse = false;
      if (!f.silence) this.faults.garbleNextResponse = false;
      return f;
    },
    garble: (text) => this.garble(text),
    overrun: () => this.pushError(-363, 'a program message exceeded 64 KiB without a terminator'),
  };

  /**
   * Runs message units from `index` on. Stays synchronous until a handler returns a promise,
   * then continues after it settles; this keeps "blocked" meaning "waiting for the instrument".
   */
  private runUnits(
    units: string[],
    index: number,
    path: HeaderToken[],
    responses: string[],
    clientId: number,
  ): string | undefined | Promise<string | undefined> {
    for (let i = index; i < units.length; i++) {
      try {
        const step = this.prepare(units[i], path, clientId);
        if (!step) continue;
        path = step.path;
        const out = step.run();
        if (out instanceof Promise) {
          return out.then(
            (text) => {
              if (step.query && typeof text === 'string') responses.push(text);
              return this.runUnits(units, i + 1, path, responses, clientId);
            },
            (err: unknown) => (this.record(err) ? undefined : this.runUnits(units, i + 1, path, responses, clientId)),
          ).then((r) => r ?? (responses.length ? responses.join(';') : undefined));
        }
        if (step.query && typeof out === 'string') responses.push(out);
      } catch (err) {
        if (this.record(err)) break;
      }
    }
    return responses.length ? responses.join(';') : undefined;
  }

  /** Resolves one message unit to a runnable handler and the path for the next unit. */
  private prepare(unitText: string, path: HeaderToken[], clientId: number) {
    const unit = parseUnit(unitText);
    if (!unit) return undefined; // empty unit, e.g. a trailing ';'
    let def: CommandDef | undefined;
    let suffixes: ReadonlyMap<string, number> = new Map();
    let nextPath = path;
    if (unit.common) {
      def = this.commons.get(unit.header.toUpperCase());
      if (!def) throw new ScpiError(-113, `${unit.header} is not a common command of the ${this.identity.model}`);
    } else {
      const own = unit.header.split(':').map(parseToken);
      const tokens = unit.absolute ? own : [...path, ...own];
      const found = this.tree.find(tokens);
      if (!found) {
        const shown = unit.absolute || path.length === 0 ? unit.header : `${unit.header} (after ${path.map((t) => t.mnemonic).join(':')}:)`;
        throw new ScpiError(-113, `${shown} is not a command of the ${this.identity.model}`);
      }
      def = found.value;
      suffixes = found.match.suffixes;
      nextPath = tokens.slice(0, -1);
    }
    const handler = unit.query ? def.query : def.set;
    if (!handler) {
      throw new ScpiError(-113, `${unit.header} ${unit.query ? 'cannot be queried' : 'exists only as a query'}`);
    }
    const [min, max] = (unit.query ? def.queryArgs : def.setArgs) ?? [0, 0];
    if (unit.params.length > max) throw new ScpiError(-108, `${unit.header}${unit.query ? '?' : ''} takes at most ${max} parameter(s)`);
    if (unit.params.length < min) throw new ScpiError(-109, `${unit.header}${unit.query ? '?' : ''} needs ${min} parameter(s)`);
    const ctx = new CommandContext(unit.header, unit.query, unit.params, suffixes, clientId);
    return { path: nextPath, query: unit.query, run: () => handler(ctx) };
  }

  /** Queues an error raised by a unit; returns true if it ends the program message (command errors). */
  private record(err: unknown): boolean {
    if (err instanceof ScpiError) {
      this.pushError(err.code, err.detail);
      return err.code <= -100 && err.code > -200;
    }
    // A bug in a handler: report it the way an instrument reports an internal fault.
    this.pushError(-300, err instanceof Error ? err.message : String(err));
    return true;
  }

  private nextError(): string {
    const e = this.errors.shift();
    return `${formatNR1(e.code, this.dialect.signedIntegers)},"${e.text}"`;
  }

  private garble(text: string): string {
    const chars = [...text];
    let changed = false;
    for (let i = 0; i < chars.length; i++) {
      if (this.random() < 0.4) {
        // Stay away from '\n' so the reply is still one (bad) line.
        chars[i] = String.fromCharCode(0x80 + Math.floor(this.random() * 0x7f));
        changed = true;
      }
    }
    if (!changed) chars[0] = '\u00bf';
    return chars.join('');
  }

  private defineCommons(): void {
    const int = (n: number) => this.int(n);
    this.defineCommon('*IDN', { query: () => this.idn });
    this.defineCommon('*RST', {
      set: () => {
        this.opcGeneration++;
        this.stopOperations();
        this.resetState();
      },
    });
    this.defineCommon('*CLS', {
      set: () => {
        this.opcGeneration++;
        this.errors.clear();
        this.esr = 0;
      },
    });
    this.defineCommon('*ESR', {
      query: () => {
        const v = this.esr;
        this.esr = 0;
        return int(v);
      },
    });
    this.defineCommon('*ESE', {
      setArgs: [1, 1],
      set: (ctx) => void (this.ese = Math.round(ctx.number(0, { min: 0, max: 255 }))),
      query: () => int(this.ese),
    });
    this.defineCommon('*SRE', {
      setArgs: [1, 1],
      set: (ctx) => void (this.sre = Math.round(ctx.number(0, { min: 0, max: 255 })) & ~STB.MSS),
      query: () => int(this.sre),
    });
    this.defineCommon('*STB', { query: () => int(this.statusByte) });
    this.defineCommon('*TST', { query: () => int(0) });
    this.defineCommon('*OPC', {
      set: () => {
        const gen = this.opcGeneration;
        const pending = this.pendingOperations();
        const done = () => {
          if (gen === this.opcGeneration) this.esr |= ESR.OPC;
        };
        if (pending) void pending.then(done);
        else done();
      },
      query: () => {
        const pending = this.pendingOperations();
        return pending ? pending.then(() => '1') : '1';
      },
    });
    this.defineCommon('*WAI', { set: () => this.pendingOperations() ?? undefined });
  }
}
