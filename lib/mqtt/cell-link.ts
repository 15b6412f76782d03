import type { AbortContext } from '../cell/abort-context';
import type { Watchdog } from '../cell/watchdog';
import type { RunResult } from '../run/run';
import { WorkcellError, showValue } from '../errors/workcell-error';
import { describeError } from '../scope/reasons';
import type { BrokerLink, LinkMessage, LinkStateChange, LinkUser } from './broker-link';
import { readRemoteStop } from './estop-payload';

/** The trip source a remote emergency stop sets. */
export const REMOTE_ESTOP_SOURCE = 'mqtt-estop';
/** The trip source a lost broker connection sets (when configured to trip). */
export const BROKER_LOSS_SOURCE = 'mqtt-link';

/** How long a closing cell waits for the broker to acknowledge its offline status. */
const OFFLINE_PUBLISH_MS = 1000;

/** The commands the command topic takes. */
export const CELL_COMMANDS = ['start', 'hold', 'resume', 'reset', 'cancel', 'clear'] as const;
export type CellCommand = (typeof CELL_COMMANDS)[number];

/** A run a `start` command began: its id, and its outcome once it ends. */
export interface StartedRun {
  run: string;
  ended: Promise<RunResult>;
}

/** A cell's MQTT topics; each is optional (blank: not used). */
export interface CellTopics {
  /** Remote emergency stop (retained "tripped" / "clear"). */
  estop?: string;
  /** Commands (JSON); answered on the request's MQTT 5 response topic, else on `reply`. */
  command?: string;
  /** Where answers go when a command names no response topic. Default: `<command>/reply`. */
  reply?: string;
  /** Retained JSON status, and the connection's will (offline). */
  status?: string;
  /** Supervisor heartbeat: any message beats the cell's watchdog. */
  heartbeat?: string;
  /** A lost broker connection trips the cell (`trip`) or is a warning (`warn`). */
  brokerLoss: 'trip' | 'warn';
}

export interface CellLinkOptions extends CellTopics {
  cell: AbortContext;
  link: BrokerLink;
  /** The cell's dead-man watchdog (needed with a heartbeat topic). */
  watchdog?: Watchdog;
  /** Start the cell's sequence named `name` with `parameters` as msg.payload; rejects with the refusal. */
  startSequence?: (name: string, parameters: unknown, source: string) => Promise<StartedRun>;
  /** Where problems and changes are told (the cell node's log). */
  log: { info(text: string): void; warn(text: string): void; error(text: string): void };
  /** How long status changes are gathered into one retained publish. Default 20 ms. */
  statusCoalesceMs?: number;
}

/** A command as read from its JSON payload. */
interface CommandRequest {
  command: CellCommand;
  id?: unknown;
  sequence?: string;
  parameters?: unknown;
  run?: string;
  device?: unknown;
  by?: string;
}

/**
 * A cell's link to an MQTT broker: remote emergency stop, commands with answers, a retained
 * status, a supervisor heartbeat, and what a lost broker connection means.
 *
 * - Remote emergency stop (`estop` topic): `tripped` makes the trip source `mqtt-estop` active
 *   (the cell trips; reset is refused, naming the topic, until `clear` is received); `clear`
 *   clears the source (the cell stays latched until a reset). The payload is read by
 *   `readRemoteStop`; an unreadable one is logged as an error and changes nothing: a tripped
 *   cell stays tripped. The source is kept while the connection is down; a retained `tripped`
 *   comes again with every reconnection. A cell that starts latched by a remote stop (its
 *   stored latch names `mqtt-estop`) starts with the source active, until `clear` arrives.
 * - Commands (`command` topic): a JSON object `{"command": …, "id": …}` with `start` (and
 *   `sequence`, optional `parameters`), `hold`, `resume`, `reset`, `cancel` (and `run`),
 *   `clear` (and `device`); optional `by` names who asks (the source, `mqtt <by>`). Each is
 *   answered with JSON `{id, command, ok, cell, state, …}` or `{id, command, ok: false, error}`
 *   on the request's MQTT 5 response topic with its correlation data, else on the reply topic;
 *   `id` is echoed (the correlation on MQTT 3.1.1). `start` is answered twice: `event:
 *   "started"` with the run id, and `event: "ended"` with the outcome (`ok` true only for
 *   `completed`); a refused start is answered once, `ok: false`. A retained command is refused
 *   (it would run again at every reconnection).
 * - Status (`status` topic): retained JSON `{cell, online: true, state, trips, unsafe, runs,
 *   devices, at}` published when connected and after changes (gathered for
 *   `statusCoalesceMs`); the connection's will is `{cell, online: false, state: "offline"}`
 *   retained on the same topic, and a graceful close publishes it too.
 * - Heartbeat (`heartbeat` topic): every message beats the watchdog, except a retained one (an
 *   old beat the broker replays is not a live supervisor).
 * - Broker loss: with `brokerLoss: 'trip'` a lost (or failed) connection makes the trip source
 *   `mqtt-link` active and reconnection clears it (the cell stays latched until a reset);
 *   with `'warn'` it is a logged warning, once per loss (not at every retry).
 */
export class CellLink {
  private readonly user: LinkUser;
  private statusTimer: NodeJS.Timeout | undefined;
  private readonly unlisten: (() => void)[] = [];
  private closed = false;
  /** A lost connection was told (with `brokerLoss: 'warn'`): once per loss. */
  private lossTold = false;
  readonly replyTopic: string | undefined;

  constructor(private readonly options: CellLinkOptions) {
    const { cell, link } = options;
    this.replyTopic = options.reply || (options.command ? `${options.command}/reply` : undefined);
    this.user = { id: `cell "${cell.name}"`, will: options.status ? { topic: options.status, payload: JSON.stringify(this.offline()) } : undefined };
    if (options.heartbeat && !options.watchdog) {
      throw new WorkcellError('no-heartbeat', `cell "${cell.name}": the MQTT heartbeat topic "${options.heartbeat}" needs the cell's heartbeat period`, { subject: cell.name, operation: 'mqtt' });
    }
    // A cell that comes back latched by a remote stop (a restart over its stored latch) keeps the
    // source active until the topic says "clear": until the broker's retained state arrives it
    // is not known, and a reset must not slip in before it does.
    if (options.estop && cell.state === 'aborted' && cell.tripSources.some((s) => s.startsWith(`${REMOTE_ESTOP_SOURCE}:`))) {
      cell.setTripSource(REMOTE_ESTOP_SOURCE, true, `remote emergency stop on "${options.estop}" latched the cell before it started; publish "clear" there to release it`);
    }
    link.register(this.user);
    if (options.estop) link.subscribe(this.user, options.estop, (m) => this.onRemoteStop(m));
    if (options.command) link.subscribe(this.user, options.command, (m) => void this.onCommand(m));
    // A retained heartbeat is an old one replayed by the broker, not a live supervisor.
    if (options.heartbeat) link.subscribe(this.user, options.heartbeat, (m) => m.retain || options.watchdog?.beat());
    this.listen(link, 'state', (c: LinkStateChange) => this.onLinkState(c));
    this.listen(link, 'subscribe-refused', (r: { topics: string[]; reason: string }) => this.onSubscribeRefused(r));
    if (options.status) {
      const changed = () => this.statusChanged();
      for (const e of ['state', 'run-start', 'run-end', 'device-health', 'trip-source', 'stop-debt']) this.listen(cell, e, changed);
    }
  }

  /** The broker link this cell uses. */
  get link(): BrokerLink {
    return this.options.link;
  }

  /** The status as published on the status topic. */
  status(): Record<string, unknown> {
    const cell = this.options.cell;
    return {
      cell: cell.name,
      online: true,
      state: cell.state,
      trips: cell.activeTrips,
      unsafe: cell.unsafeDevices,
      runs: cell.activeRuns.map((r) => ({ run: r.id, sequence: r.sequence, step: r.step })),
      devices: cell.devices,
      at: Date.now(),
    };
  }

  /**
   * Leave the broker: the status topic gets the offline status (when connected; waiting at most
   * 1 s for the broker's acknowledgement), then the user deregisters (the last one closes the
   * connection). Resolves when both are done.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.statusTimer) clearTimeout(this.statusTimer);
    for (const off of this.unlisten.splice(0)) off();
    const { link, status } = this.options;
    if (status && link.connected) {
      // Bounded: a broker that stops acknowledging must not hold up Node-RED's close.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([link.publish(status, JSON.stringify(this.offline()), { retain: true }).catch(() => undefined), new Promise((r) => (timer = setTimeout(r, OFFLINE_PUBLISH_MS)))]);
      clearTimeout(timer);
    }
    await link.deregister(this.user);
  }

  private offline(): Record<string, unknown> {
    return { cell: this.options.cell.name, online: false, state: 'offline' };
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private listen(emitter: NodeJS.EventEmitter, event: string, fn: (...args: any[]) => void): void {
    emitter.on(event, fn);
    this.unlisten.push(() => emitter.off(event, fn));
  }

  private onLinkState(c: LinkStateChange): void {
    const { cell, link, log, brokerLoss } = this.options;
    if (c.state === 'connected') {
      this.lossTold = false;
      if (cell.activeTrips[BROKER_LOSS_SOURCE] !== undefined) {
        cell.setTripSource(BROKER_LOSS_SOURCE, false);
        log.info(`cell "${cell.name}": ${link.name}: connected again; the cell stays latched until a reset`);
      }
      this.publishStatus();
    } else if (c.state === 'disconnected') {
      const why = `${link.name}: connection lost: ${c.detail}`;
      if (brokerLoss === 'trip') {
        void cell.setTripSource(BROKER_LOSS_SOURCE, true, why)?.catch(() => undefined);
      } else if (!this.lossTold) {
        // Once per loss, not at every retry.
        this.lossTold = true;
        log.warn(`cell "${cell.name}": ${why}`);
      }
    }
  }

  /**
   * The broker refused some of the cell's subscriptions (its ACL denies them): a refused remote
   * emergency-stop topic means remote stops cannot be heard, which with `brokerLoss: 'trip'` trips
   * the cell as a lost connection does (fail-safe) and otherwise is an error in the log; a
   * refused command or heartbeat topic is an error in the log (a missing heartbeat trips the
   * watchdog anyway).
   */
  private onSubscribeRefused(r: { topics: string[]; reason: string }): void {
    const { cell, link, log, brokerLoss, estop, command, heartbeat } = this.options;
    const mine = r.topics.filter((t) => t === estop || t === command || t === heartbeat);
    for (const topic of mine) {
      const what = topic === estop ? 'remote emergency-stop' : topic === command ? 'command' : 'heartbeat';
      const why = `${link.name}: the broker refused the subscription to the ${what} topic "${topic}" (${r.reason})`;
      if (topic === estop && brokerLoss === 'trip') {
        void cell.setTripSource(BROKER_LOSS_SOURCE, true, `${why}: remote emergency stops cannot be heard`)?.catch(() => undefined);
      } else {
        log.error(`cell "${cell.name}": ${why}${topic === estop ? ': remote emergency stops cannot be heard' : ''}`);
      }
    }
  }

  private onRemoteStop(m: LinkMessage): void {
    const { cell, log } = this.options;
    let said;
    try {
      said = readRemoteStop(m.topic, m.payload);
    } catch (err) {
      const tripped = cell.activeTrips[REMOTE_ESTOP_SOURCE] !== undefined;
      log.error(`cell "${cell.name}": ${describeError(err)}; ${tripped ? 'the remote emergency stop stays tripped' : 'nothing changed'}`);
      return;
    }
    if (said.state === 'tripped') {
      const detail = `remote emergency stop on "${m.topic}"${said.by ? ` by ${said.by}` : ''}; publish "clear" there to release it`;
      void cell.setTripSource(REMOTE_ESTOP_SOURCE, true, detail)?.catch(() => undefined);
    } else if (cell.activeTrips[REMOTE_ESTOP_SOURCE] !== undefined) {
      cell.setTripSource(REMOTE_ESTOP_SOURCE, false);
      log.info(`cell "${cell.name}": remote emergency stop on "${m.topic}" cleared${said.by ? ` by ${said.by}` : ''}; the cell stays latched until a reset`);
    }
  }

  private async onCommand(m: LinkMessage): Promise<void> {
    let request: CommandRequest | undefined;
    let id: unknown;
    const answer = (body: Record<string, unknown>) => this.answer(m, { ...(id !== undefined ? { id } : {}), ...body });
    try {
      id = correlationId(m.payload);
      // A retained command would run again at every reconnection: only live requests are taken.
      if (m.retain) throw new WorkcellError('retained-command', `MQTT command on "${m.topic}" refused: it is a retained message (publish commands without retain)`, { operation: 'command' });
      request = readCommand(m.topic, m.payload);
      const cmd = request.command;
      const source = `mqtt ${m.topic}${request.by ? ` (${request.by})` : ''}`;
      if (cmd === 'start') {
        const started = await this.start(request, source);
        await answer({ command: cmd, ok: true, event: 'started', cell: this.options.cell.name, sequence: request.sequence, run: started.run });
        const r = await started.ended;
        await answer({ command: cmd, ok: r.outcome === 'completed', event: 'ended', cell: this.options.cell.name, ...r });
        return;
      }
      const extra = await this.perform(request, source);
      await answer({ command: cmd, ok: true, cell: this.options.cell.name, state: this.options.cell.state, ...extra });
    } catch (err) {
      const error = describeError(err);
      // The refusal is answered to whoever asked (as a Catch node gets a node's error): logged as information.
      this.options.log.info(`cell "${this.options.cell.name}": MQTT command on "${m.topic}" refused: ${error}`);
      await answer({ command: request?.command ?? null, ok: false, cell: this.options.cell.name, error }).catch((e: unknown) =>
        this.options.log.warn(`cell "${this.options.cell.name}": could not answer an MQTT command: ${describeError(e)}`),
      );
    }
  }

  private start(request: CommandRequest, source: string): Promise<StartedRun> {
    const { startSequence, cell } = this.options;
    if (typeof request.sequence !== 'string' || request.sequence === '') {
      throw new WorkcellError('bad-command', `cell "${cell.name}": MQTT command start needs "sequence", the name of a sequence node, got ${showValue(request.sequence)}`, { subject: cell.name, operation: 'start', value: request.sequence });
    }
    if (!startSequence) throw new WorkcellError('no-sequences', `cell "${cell.name}": this cell cannot start sequences over MQTT`, { subject: cell.name, operation: 'start' });
    return startSequence(request.sequence, request.parameters, source);
  }

  private async perform(request: CommandRequest, source: string): Promise<Record<string, unknown>> {
    const { cell } = this.options;
    switch (request.command) {
      case 'hold':
        await cell.hold(source);
        return {};
      case 'resume':
        await cell.resume(source);
        return {};
      case 'reset':
        await cell.reset(source);
        return {};
      case 'cancel': {
        if (typeof request.run !== 'string' || !request.run) {
          throw new WorkcellError('bad-command', `cell "${cell.name}": MQTT command cancel needs "run", a run id, got ${showValue(request.run)}`, { subject: cell.name, operation: 'cancel', value: request.run });
        }
        const report = await cell.cancelRun(request.run, source);
        return { run: request.run, report };
      }
      case 'clear':
        cell.clearDevice(request.device, source);
        return { device: request.device, unsafe: cell.unsafeDevices };
      default:
        return {};
    }
  }

  private async answer(m: LinkMessage, body: Record<string, unknown>): Promise<void> {
    const topic = m.responseTopic ?? this.replyTopic;
    if (!topic) return;
    await this.options.link.publish(topic, JSON.stringify(body), { correlationData: m.correlationData });
  }

  private statusChanged(): void {
    if (this.statusTimer || this.closed) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      this.publishStatus();
    }, this.options.statusCoalesceMs ?? 20);
  }

  private publishStatus(): void {
    const { link, status, cell, log } = this.options;
    if (!status || !link.connected || this.closed) return;
    link.publish(status, JSON.stringify(this.status()), { retain: true }).catch((err: unknown) => {
      if (link.connected) log.warn(`cell "${cell.name}": could not publish its status to "${status}": ${describeError(err)}`);
    });
  }
}

/** The `id` of a command payload that is a JSON object, even one that is otherwise wrong (so its refusal is correlated). */
function correlationId(payload: Buffer): unknown {
  try {
    const parsed: unknown = JSON.parse(payload.toString('utf8'));
    return parsed && typeof parsed === 'object' ? (parsed as { id?: unknown }).id : undefined;
  } catch {
    return undefined;
  }
}

/** Read a command payload: a JSON object with a known `command`; throws a WorkcellError showing the payload otherwise. */
export function readCommand(topic: string, payload: Buffer | string): CommandRequest {
  const text = typeof payload === 'string' ? payload : payload.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new WorkcellError('bad-command', `MQTT command on "${topic}": the payload must be a JSON object such as {"command":"hold"}, got ${showValue(text)}`, { operation: 'command', value: text });
  }
  const c = parsed as Record<string, unknown>;
  if (typeof c.command !== 'string' || !(CELL_COMMANDS as readonly string[]).includes(c.command)) {
    throw new WorkcellError('bad-command', `MQTT command on "${topic}": unknown command ${showValue(c.command)}; expected one of ${CELL_COMMANDS.join(', ')}`, { operation: 'command', value: c.command });
  }
  if (c.by !== undefined && typeof c.by !== 'string') {
    throw new WorkcellError('bad-command', `MQTT command on "${topic}": "by" must be text, got ${showValue(c.by)}`, { operation: 'command', value: c.by });
  }
  return c as unknown as CommandRequest;
}
