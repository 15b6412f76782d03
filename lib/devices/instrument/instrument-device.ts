import { Device, type DeviceStatus, type OperationContext } from '../../device/device';
import { notConnected } from '../connection-health';
import type { OperationSpec } from '../../device/operations';
import { WorkcellError, showValue } from '../../errors/workcell-error';
import { Cancellation, describeError } from '../../scope/reasons';
import { abortable } from '../../scope/cancel-scope';
import type { BackoffOptions } from '../../io/backoff';
import { createTransport } from '../../io/create-transport';
import { RequestTimeoutError } from '../../io/errors';
import { LineConnection } from '../../io/line-connection';
import type { SerialSettings } from '../../io/serial-transport';
import { InstrumentSession } from './instrument-session';
import { InstrumentTelemetry } from './instrument-telemetry';
import { INSTRUMENT_OPERATIONS } from './operations';
import { instrumentPreset, type InstrumentPreset, type TelemetryQuery } from './presets';
import { ScpiCommandError, formatScpiError } from './scpi-error';
import { ScpiLink, QUERY_INTERRUPTED, opcReply } from './scpi-link';
import { containsQuery, parseScpiNumbers, unitOfQuery } from './scpi-response';
import { hasOutputLimits, outputLimitProblem, type OutputLimit, type OutputLimitSettings } from './output-limits';
import { findControlCharacter } from '../../io/control-characters';

/** What ends a program message on the wire. */
export type ScpiTerminator = '\n' | '\r\n' | '\r';

/** Settings of one SCPI instrument; every preset-derived field can be overridden. */
export interface ScpiInstrumentOptions {
  /** The device's name in the cell and in every message (`DMM`, `PSU 1`). */
  name: string;
  /** `tcp://host:5025` or a serial device path; ignored when `connection` is given. */
  address?: string;
  /** A connection to use instead of one made from `address`. The driver owns it: it opens and closes it. */
  connection?: LineConnection;
  /** Serial line settings (baud rate…); only for a serial `address`. */
  serial?: SerialSettings;
  /** Program message terminator, also the reply delimiter (`\r\n` replies are read as `\n` + trimmed CR). Default `\n`. */
  terminator?: ScpiTerminator;
  /** A key of `INSTRUMENT_PRESETS`; default `generic`. */
  preset?: string;
  measureQuery?: string;
  readQuery?: string;
  /** Output command template with `{channel}` and `{state}`; '' for none. */
  outputCommand?: string;
  channels?: number;
  /**
   * The most each output may be set to (`volts`, `amps`, CH1 first), checked before anything is
   * sent (see `outputLimitProblem`). Default: the preset's ratings (DP821: CH1 60 V / 1 A, CH2
   * 8 V / 10 A); `[]` for none.
   */
  outputLimits?: readonly OutputLimit[];
  /** Commands `safe()` sends before draining the error queue and `*CLS`. */
  safeCommands?: readonly string[];
  /** Written at once to stop the instrument. Default `ABOR`. */
  stopCommand?: string;
  /** Sent once after each successful `*IDN?` (e.g. `SYST:REM` for an RS-232 Keysight). */
  initCommands?: readonly string[];
  /** Read `SYST:ERR?` after every operation and fail it on SCPI errors. Default true. */
  errorCheck?: boolean;
  /** Default reply timeout, ms. Default 5000. */
  timeoutMs?: number;
  /** Telemetry poll period, ms; 0 (default) turns telemetry off. */
  telemetryIntervalMs?: number;
  /** Telemetry readings; default the preset's. */
  telemetry?: readonly TelemetryQuery[];
  reconnect?: BackoffOptions | false;
  ownership?: 'wait' | 'fail-fast';
  critical?: boolean;
}

/** The result of `measure` and `read`. */
export interface InstrumentReading {
  /** The reading; null when it was an overload flagged rather than failed. */
  value: number | null;
  unit: string;
  query: string;
  overload: boolean;
  /** Every reading when the reply held more than one (sample count > 1, `MEAS:ALL?`). */
  values?: (number | null)[];
}

/** An `*IDN?` reply (maker, model, serial, firmware) as a status detail: model and serial first. */
export function describeIdentity(idn: string): string {
  const [maker, model, serial, ...firmware] = idn.split(',').map((f) => f.trim());
  if (!model) return idn;
  return `${model}${serial && serial !== '0' ? ` ${serial}` : ''} (${[maker, firmware.join(',')].filter(Boolean).join(', ')})`;
}

/**
 * A SCPI measurement instrument (DMM, power supply, SMU) over TCP (raw socket, port 5025) or a
 * serial line, as a Workcell device.
 *
 * Connection: the driver owns one `LineConnection` (strict send/reply, one request in flight).
 * On every (re)connect it first writes the stop the device owes (`oweStop`) and the safe
 * commands of a `safe()` waiting for the link, then asks `*IDN?` (model, serial, maker and
 * firmware become the health detail; the reply is kept as `identity`), sends the init commands
 * and, with the error check on, drains errors left from before; only then is the device
 * `ready`. A failed identification is retried while the session lasts. (The connection
 * lifecycle is `InstrumentSession`, in instrument-session.ts.)
 *
 * Operations (see `INSTRUMENT_OPERATIONS`): measure, read, query, write, output. With the error
 * check on, each is followed by draining `SYST:ERR?` until `0,"No error"`; any error fails the
 * operation as a `ScpiCommandError` ("DMM: write "VOLT 99" → -222,"Data out of range"").
 *
 * Checks before anything is sent (`checkLimits`), for the commands of messages and, when the
 * device is made, for the configured ones: no control character (0x00–0x1F, 0x7F; the refusal
 * names it as `\x03 (^C)` and its position), and no output level above the output limits
 * (`outputLimits`, by default the preset's ratings; see `outputLimitProblem`).
 *
 * Stop: the stop command (`ABOR`) is written at once, past anything queued. The instrument
 * never answers a query that `ABOR` interrupted, and a reply already on its way may still
 * arrive, so before the next request the driver resynchronises: it drops the replies still owed
 * (`discardPendingReplies`) and asks `*OPC?`, ignoring every line until its `1`, then drains the
 * errors the abort caused (`-410`). The same happens after a reply timeout (the driver writes
 * `ABOR` then too: it gave up on the query, so the instrument should stop working on it).
 * (Keeping the reply stream in step and reading the error queue is `ScpiLink`, in scpi-link.ts.)
 *
 * Safe: the safe commands (default: every output off) first, at once, then confirmed: see `safe`.
 *
 * Telemetry: with an interval set, the telemetry queries are read through the command queue
 * (never overlapping an operation; skipped while one runs) and emitted as a `'telemetry'` event
 * `{device, kind, time, identity, readings: {name: value}, units: {name: unit}}`
 * (`InstrumentTelemetry`, in instrument-telemetry.ts).
 *
 * Events besides the Device ones: `'warning'` (string) for errors found and discarded outside an
 * operation (stale errors at connect, errors an abort caused, a failed telemetry read).
 */
export class ScpiInstrumentDevice extends Device {
  readonly kind = 'instrument';
  readonly operations = INSTRUMENT_OPERATIONS;
  readonly connection: LineConnection;
  readonly preset: InstrumentPreset;
  readonly measureQuery: string;
  readonly readQuery: string;
  readonly outputCommand: string;
  readonly channels: number;
  /** The output limits in force, CH1 first (see `ScpiInstrumentOptions.outputLimits`). */
  readonly outputLimits: readonly OutputLimit[];
  readonly safeCommands: readonly string[];
  readonly stopCommand: string;
  readonly initCommands: readonly string[];
  readonly errorCheck: boolean;
  readonly timeoutMs: number;
  readonly telemetryIntervalMs: number;
  readonly telemetryQueries: readonly TelemetryQuery[];
  /** The request/reply stream kept in step and the error queue read (see `ScpiLink`). */
  private readonly link: ScpiLink;
  private readonly terminator: ScpiTerminator;
  private readonly lifecycle: InstrumentSession;
  private readonly telemetryPoller: InstrumentTelemetry;
  /** Unit of the function last configured by a MEASure/CONFigure command, for `READ?`-style queries. */
  private lastUnit: string | undefined;
  private closed = false;
  private readonly limitSettings: OutputLimitSettings;

  /** Validates the options (throws a RangeError or EndpointError naming the bad one); connects on `open()`. */
  constructor(options: ScpiInstrumentOptions) {
    super({ name: options.name, ownership: options.ownership, critical: options.critical });
    const preset = instrumentPreset(options.preset);
    this.preset = preset;
    this.terminator = options.terminator ?? '\n';
    if (!['\n', '\r\n', '\r'].includes(this.terminator)) throw new RangeError(`${this.name}: the terminator must be \\n, \\r\\n or \\r, got ${JSON.stringify(this.terminator)}`);
    this.measureQuery = (options.measureQuery || preset.measureQuery).trim();
    this.readQuery = (options.readQuery || preset.readQuery).trim();
    this.outputCommand = (options.outputCommand ?? preset.outputCommand).trim();
    this.channels = options.channels ?? (this.outputCommand ? Math.max(1, preset.channels) : 0);
    this.safeCommands = (options.safeCommands ?? preset.safeCommands).map((c) => c.trim()).filter(Boolean);
    this.stopCommand = (options.stopCommand || preset.stopCommand).trim();
    this.initCommands = (options.initCommands ?? []).map((c) => c.trim()).filter(Boolean);
    this.errorCheck = options.errorCheck ?? true;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.telemetryIntervalMs = options.telemetryIntervalMs ?? 0;
    this.telemetryQueries = options.telemetry ?? preset.telemetry;
    if (!(this.timeoutMs > 0)) throw new RangeError(`${this.name}: the reply timeout must be more than 0 ms, got ${this.timeoutMs}`);
    if (!(this.telemetryIntervalMs >= 0)) throw new RangeError(`${this.name}: the telemetry interval must be 0 (off) or more, got ${this.telemetryIntervalMs}`);
    if (!(Number.isInteger(this.channels) && this.channels >= 0)) throw new RangeError(`${this.name}: the number of output channels must be a whole number, got ${this.channels}`);
    this.outputLimits = (options.outputLimits ?? preset.ratings).map((l) => ({ ...l }));
    this.limitSettings = { channels: this.channels, limits: this.outputLimits, ratings: preset.ratings };
    this.checkOutputLimits();
    this.checkConfiguredQuery('measure query', this.measureQuery);
    this.checkConfiguredQuery('read query', this.readQuery);
    for (const q of this.telemetryQueries) this.checkConfiguredQuery(`telemetry query ${q.name}`, q.query);
    for (const c of [...this.safeCommands, ...this.initCommands, this.stopCommand]) {
      if (containsQuery(c) || /[\r\n]/.test(c)) throw new RangeError(`${this.name}: ${JSON.stringify(c)} cannot be a stop, safe or init command: it must be one line without ?`);
      this.checkConfiguredCommand('stop, safe or init command', c);
    }
    if (this.outputCommand && !this.outputCommand.includes('{state}')) {
      throw new RangeError(`${this.name}: the output command ${JSON.stringify(this.outputCommand)} needs a {state} placeholder (ON/OFF)`);
    }
    this.connection =
      options.connection ??
      new LineConnection(createTransport(options.address ?? '', { serial: options.serial }), {
        framing: { delimiter: this.terminator === '\r' ? '\r' : '\n' },
        lineEnding: this.terminator,
        timeoutMs: this.timeoutMs,
        reconnect: options.reconnect,
      });
    this.link = new ScpiLink(this.connection, {
      name: this.name,
      stopCommand: this.stopCommand,
      terminator: this.terminator,
      timeoutMs: this.timeoutMs,
      errorCheck: this.errorCheck,
      warn: (text) => this.emit('warning', text),
    });
    this.telemetryPoller = new InstrumentTelemetry(
      {
        name: this.name,
        link: this.link,
        timeoutMs: this.timeoutMs,
        idle: () => this.status === 'ready' && !this.queue.busy && this.queue.waiting === 0,
        queued: (signal, work) => this.queue.run('telemetry', signal, work),
        lastUnit: () => this.lastUnit,
        emit: (result) => this.telemetry({ identity: this.identity ?? null, ...result }),
        warn: (text) => this.emit('warning', text),
      },
      this.telemetryIntervalMs,
      this.telemetryQueries,
    );
    this.lifecycle = new InstrumentSession({
      name: this.name,
      link: this.link,
      initCommands: this.initCommands,
      errorCheck: this.errorCheck,
      timeoutMs: this.timeoutMs,
      setStatus: (status, detail) => this.setStatus(status, detail),
      linkUp: () => this.linkUp(),
      writeSafeCommands: () => this.writeSafeNow(),
      ready: (session) => this.telemetryPoller.start(session),
      ended: () => this.telemetryPoller.stop(),
      warn: (text) => this.emit('warning', text),
    });
  }

  /** The instrument's `*IDN?` reply from the current session, or undefined before it answered. */
  get identity(): string | undefined {
    return this.lifecycle.identity;
  }

  /** Start connecting (and reconnecting); resolves at once, status follows on `'health'`. */
  async open(): Promise<void> {
    if (this.closed) throw new WorkcellError('closed', `${this.name}: cannot open: the device was closed`, { subject: this.name });
    this.connection.open();
  }

  /** Stop telemetry and close the connection for good; resolves once the transport is closed. */
  async close(): Promise<void> {
    this.closed = true;
    this.telemetryPoller.stop();
    this.lifecycle.end();
    await this.connection.close();
    this.setStatus('disconnected', 'closed');
  }

  // ----- the device contract -----

  protected async perform(op: OperationSpec, params: Record<string, unknown>, ctx: OperationContext): Promise<unknown> {
    const { signal } = ctx;
    await this.link.settle(signal);
    const timeoutMs = (params.timeoutMs as number | undefined) ?? this.timeoutMs;
    switch (op.name) {
      case 'query': {
        const command = (params.command as string).trim();
        this.noteConfigured(command);
        const reply = await this.link.ask(op.name, command, signal, timeoutMs);
        await this.link.checkErrors(op.name, command, signal);
        return reply;
      }
      case 'write': {
        const command = (params.command as string).trim();
        await this.link.tell(op.name, command, signal);
        this.noteConfigured(command);
        return { command };
      }
      case 'measure':
      case 'read': {
        const query = op.name === 'measure' ? ((params.query as string | undefined)?.trim() || this.measureQuery) : this.readQuery;
        this.noteConfigured(query);
        const reply = await this.link.ask(op.name, query, signal, timeoutMs);
        await this.link.checkErrors(op.name, query, signal);
        return this.toReading(op.name, query, reply, (params.unit as string | undefined) ?? this.lastUnit ?? '', params.overload === 'flag');
      }
      case 'output': {
        const channel = params.channel as number;
        const on = params.on as boolean;
        const command = this.outputCommand.replace('{channel}', String(channel)).replace('{state}', on ? 'ON' : 'OFF');
        await this.link.tell(op.name, command, signal);
        return { channel, on };
      }
      default:
        throw new WorkcellError('unknown-operation', `${this.name}: operation ${op.name} is not implemented`, { subject: this.name, operation: op.name });
    }
  }

  /**
   * Commands are checked before anything is sent: no control character (CR and LF included:
   * one program message per operation; on a serial line some instruments act on a control byte
   * at once, ^C as a device clear), a query must ask, a write must not, and no output level
   * beyond the output limits (`outputLimitProblem`).
   */
  protected override checkLimits(op: OperationSpec, params: Record<string, unknown>): void {
    const refuse = (why: string, value: unknown, code = 'invalid-command') =>
      new WorkcellError(code, `${this.name}: ${op.name} refused: ${why}; nothing was sent`, { subject: this.name, operation: op.name, value });
    const command = (params.command ?? params.query) as string | undefined;
    const control = command === undefined ? undefined : findControlCharacter(command);
    if (control) {
      const what = control.code === 0x0a || control.code === 0x0d
        ? `a line break, ${control.shown}, at character ${control.position} (send one program message per operation)`
        : `the control character ${control.shown} at character ${control.position}, which an instrument may act on at once (on RS-232 some take ^C as a device clear)`;
      throw refuse(`${showValue(command)} contains ${what}`, command);
    }
    if (command !== undefined && command.trim() === '' && op.name !== 'measure') throw refuse('the command is empty', command);
    if ((op.name === 'query' || op.name === 'measure') && command !== undefined && command.trim() !== '' && !containsQuery(command)) {
      throw refuse(`${showValue(command)} is not a query (a query contains ?); use write for commands without a reply`, command);
    }
    if (op.name === 'write' && command !== undefined && containsQuery(command)) {
      throw refuse(`${showValue(command)} contains a query (?) whose reply nobody would read; use query`, command);
    }
    if (command !== undefined && hasOutputLimits(this.limitSettings)) {
      const problem = outputLimitProblem(command, this.limitSettings);
      if (problem) throw refuse(problem, command, 'limit');
    }
    if (op.name === 'output') {
      const channel = params.channel as number;
      if (!this.outputCommand || this.channels === 0) throw refuse(`the ${this.preset.label} has no output to switch (no output command configured)`, channel);
      if (channel > this.channels) throw this.limitError(op, 'channel', channel, `1…${this.channels}`);
      if (channel !== 1 && !this.outputCommand.includes('{channel}')) throw this.limitError(op, 'channel', channel, '1 (the output command has no {channel})');
    }
  }

  /**
   * Write the stop command now, past anything queued; the next request resynchronises first.
   * The acknowledgement is the write: it resolves once the transport has the command. Rejects
   * at once when the link is down ("PSU: cannot stop: not connected (…)"), and as soon as the
   * transport fails the write, as it does when the link drops before it could take the command
   * (a stalled serial line unplugged): "PSU: stop failed: the link dropped before "ABOR" was
   * written (…)". An owed stop (see `linkUp`) is this same write, first thing on the new
   * connection.
   */
  protected sendStop(_reason: Cancellation): Promise<void> {
    this.link.stopped();
    if (!this.connection.isConnected) {
      return Promise.reject(new WorkcellError('stop-failed', `${this.name}: cannot stop: ${notConnected(this.connection)}`, { subject: this.name, operation: 'stop' }));
    }
    return this.link.writeStop().catch((err: unknown) => {
      // The transport could not take the command: the line broke under it (an unplugged serial
      // adapter fails the pending write before its close is reported).
      throw new WorkcellError('stop-failed', `${this.name}: stop failed: the link dropped before ${JSON.stringify(this.stopCommand)} was written (${describeError(err)})`, {
        subject: this.name,
        operation: 'stop',
        cause: err,
      });
    });
  }

  /** A cancelled operation (not an emergency stop): the instrument stops it too. */
  protected override onOperationAborted(_op: OperationSpec, _reason: unknown): void {
    this.link.abandon();
  }

  /**
   * Bring the instrument to its safe state, everything bounded by `signal`:
   * 1. First, the safe commands (outputs off) are written at once, past anything queued or
   *    waiting for a reply, so an instrument that no longer answers but still listens gets
   *    them; when the link is down, they are written first thing when it comes back (after the
   *    owed stop, before `*IDN?`).
   * 2. Then, through the command queue (after whatever was aborted has let go) and once the
   *    instrument is identified, the confirmation: resynchronise (`*OPC?`) and drain the errors
   *    left from before (a `'warning'`; the `-410` of a query a stop interrupted is expected),
   *    the safe commands again (they switch off what is already off, so the errors drained now
   *    are theirs), drain the error queue (errors fail it), `*CLS`, and `*OPC?` to confirm that
   *    everything was executed.
   * An instrument that does not answer makes it fail with a sentence saying that the safe
   * commands were written but not confirmed.
   */
  async safe(signal: AbortSignal): Promise<void> {
    const commands = this.safeCommands.join('; ') || '*CLS';
    const first = this.writeSafeFirst(signal);
    first.catch(() => undefined);
    await this.queue.run('safe', signal, async (s) => {
      try {
        await abortable(s, first);
      } catch (err) {
        if (s.aborted) throw err;
        throw new WorkcellError('safe-failed', `${this.name}: safe: cannot write ${JSON.stringify(commands)}: ${describeError(err)}`, { subject: this.name, operation: 'safe', value: commands, cause: err });
      }
      if (!this.connection.isConnected) await this.connection.waitConnected(s);
      // After a reconnect, identification (and its drain of stale errors) goes first, so it
      // cannot take the errors of the safe commands for its own.
      const identification = this.lifecycle.identification;
      if (identification) await abortable(s, identification);
      try {
        // In step again, and the error queue emptied of what came before, the first pass's
        // errors included: the errors drained after the second pass are its own.
        await this.link.resync(s);
        const stale = (await this.link.drainErrors('safe', s)).filter((e) => e.code !== QUERY_INTERRUPTED);
        if (stale.length) this.emit('warning', `${this.name}: errors in the instrument's queue before its safe state was confirmed were discarded: ${stale.map(formatScpiError).join('; ')}`);
        for (const command of this.safeCommands) await this.connection.send(command, { signal: s });
        const errors = await this.link.drainErrors('safe', s);
        await this.connection.send('*CLS', { signal: s });
        await this.connection.request('*OPC?', { signal: s, isReply: opcReply });
        if (errors.length) throw new ScpiCommandError(this.name, 'safe', this.safeCommands.join('; '), errors);
      } catch (err) {
        const timeout = err instanceof RequestTimeoutError ? err : err instanceof WorkcellError && err.cause instanceof RequestTimeoutError ? err.cause : undefined;
        if (timeout && !s.aborted && this.safeCommands.length > 0) {
          throw new WorkcellError('safe-unconfirmed', `${this.name}: safe: the instrument does not answer (no reply to ${JSON.stringify(timeout.operation)} within ${timeout.timeoutMs} ms): the safe commands ${JSON.stringify(commands)} were written but not confirmed`, {
            subject: this.name,
            operation: 'safe',
            value: commands,
            cause: err,
          });
        }
        throw this.link.explain('safe', commands, err);
      }
    });
  }

  /**
   * Step 1 of `safe`: the safe commands now (the link is up) or first thing when the link
   * comes back (bounded by `signal`; also when the write now fails because the link just went).
   * Resolves once the transport has them.
   */
  private writeSafeFirst(signal: AbortSignal): Promise<void> {
    if (this.safeCommands.length === 0) return Promise.resolve();
    if (this.connection.isConnected) return this.writeSafeNow().catch(() => this.lifecycle.writeSafeOnLinkUp(signal));
    return this.lifecycle.writeSafeOnLinkUp(signal);
  }

  /** Every safe command in one write, past anything queued. */
  private writeSafeNow(): Promise<void> {
    return this.connection.writeNow(this.safeCommands.map((c) => c + this.terminator).join(''));
  }

  /**
   * Shows the `*IDN?` identity while ready (the base class clears the detail after each
   * operation), model first so a short node status still says which instrument it is:
   * `34461A MY53212931 (Keysight Technologies, A.02.08-…)`.
   */
  protected override setStatus(status: DeviceStatus, detail = '', fault?: string | null): void {
    const identity = this.identity;
    const shown = status === 'ready' && detail === '' && identity ? describeIdentity(identity) : detail;
    if (fault === undefined) super.setStatus(status, shown);
    else super.setStatus(status, shown, fault);
  }

  // ----- readings -----

  /** Remembers the unit of a function selected by a MEASure/CONFigure unit, for later `READ?`s. */
  private noteConfigured(command: string): void {
    for (const unit of command.split(';')) {
      const found = unitOfQuery(unit);
      if (found) this.lastUnit = found;
    }
  }

  private toReading(operation: string, query: string, reply: string, unit: string, flagOverload: boolean): InstrumentReading {
    const numbers = parseScpiNumbers(this.name, operation, query, reply);
    const overload = numbers.some((n) => n.overload);
    if (overload && !flagOverload) {
      const shown = numbers.find((n) => n.overload)!.text;
      throw new WorkcellError('overload', `${this.name}: ${operation} ${JSON.stringify(query)}: overload (${shown}): the input is above the selected range`, {
        subject: this.name,
        operation,
        value: shown,
      });
    }
    const values = numbers.map((n) => (n.overload ? null : n.value));
    const reading: InstrumentReading = { value: values[0], unit, query, overload };
    if (values.length > 1) reading.values = values;
    return reading;
  }

  private checkConfiguredQuery(what: string, query: string): void {
    if (!query || !containsQuery(query) || /[\r\n]/.test(query)) {
      throw new RangeError(`${this.name}: the ${what} ${JSON.stringify(query)} must be one line containing ? (a query)`);
    }
    this.checkConfiguredCommand(what, query);
  }

  /** A configured command goes on the wire as the messages' do: the same control-character and output-limit checks. */
  private checkConfiguredCommand(what: string, command: string): void {
    const control = findControlCharacter(command);
    if (control) throw new RangeError(`${this.name}: the ${what} ${JSON.stringify(command)} contains the control character ${control.shown} at character ${control.position}`);
    const problem = hasOutputLimits(this.limitSettings) ? outputLimitProblem(command, this.limitSettings) : undefined;
    if (problem) throw new RangeError(`${this.name}: the ${what} ${JSON.stringify(command)} is refused: ${problem}`);
  }

  /** Limits are magnitudes for channels the device has. */
  private checkOutputLimits(): void {
    if (this.outputLimits.length > this.channels && this.outputLimits.slice(this.channels).some((l) => l.volts !== undefined || l.amps !== undefined)) {
      throw new RangeError(`${this.name}: the output limits name CH${this.outputLimits.length}, but the device has ${this.channels} output channel${this.channels === 1 ? '' : 's'}`);
    }
    this.outputLimits.forEach((l, i) => {
      for (const [key, unit] of [['volts', 'V'], ['amps', 'A']] as const) {
        const v = l[key];
        if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new RangeError(`${this.name}: the CH${i + 1} output limit must be a number of ${unit}, 0 or more, got ${showValue(v)}`);
      }
    });
  }
}
