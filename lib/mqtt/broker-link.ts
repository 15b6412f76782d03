import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import { BackoffOptions, backoffDelay, resolveBackoff } from '../io/backoff';

/** How a broker link is made: where, as whom, how securely, and how it comes back. */
export interface BrokerLinkOptions {
  /** `mqtt://host:port`, `mqtts://…`, `ws://…`, `wss://…`. */
  url: string;
  /** How messages name the link ("broker mqtt://127.0.0.1:1883"). Default: the URL. */
  name?: string;
  /** Default: mqtt.js's random one. */
  clientId?: string;
  username?: string;
  password?: string;
  /** 5 (MQTT 5) or 4 (MQTT 3.1.1). */
  protocolVersion: 4 | 5;
  /** Seconds; the broker publishes the will after 1.5 × this without a packet. Default 15. */
  keepaliveS?: number;
  /** TLS: PEM texts (or their bytes) and whether the broker's certificate must verify. */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized: boolean };
  /** Between reconnection attempts (lib/io/backoff.ts). Default 0.5 s growing to 15 s. */
  backoff?: BackoffOptions;
}

/** A message that arrived on a subscribed topic. */
export interface LinkMessage {
  topic: string;
  payload: Buffer;
  retain: boolean;
  /** MQTT 5 only: where a request wants its answer, and what to echo with it. */
  responseTopic?: string;
  correlationData?: Buffer;
}

/** A retained message the broker publishes for its user when the connection is lost without a goodbye. */
export interface LinkWill {
  topic: string;
  payload: string;
}

/** One user of a link (a cell): registering opens the connection, the last to leave closes it. */
export interface LinkUser {
  /** How messages name the user. */
  readonly id: string;
  /** Offered at registration; the connection carries the first user's will (MQTT allows one). */
  readonly will?: LinkWill;
}

/** `idle` (no users), `connecting`, `connected`, `disconnected` (waiting to retry), `closing`. */
export type LinkState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closing';

/** A change of the link's state: `detail` says why (the broker's refusal, the socket's error). */
export interface LinkStateChange {
  state: LinkState;
  detail: string;
}

/** How long a closing link waits for the broker to acknowledge messages still in flight. */
const CLOSE_DRAIN_MS = 1000;

/** Resolves true once mqtt.js has no unacknowledged outgoing message (at once if none), false after `ms`. */
function outgoingDrained(client: MqttClient, ms: number): Promise<boolean> {
  if (Object.keys(client.outgoing).length === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('outgoingEmpty', onEmpty);
      resolve(false);
    }, ms);
    const onEmpty = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('outgoingEmpty', onEmpty);
  });
}

interface Subscription {
  user: LinkUser;
  topic: string;
  handler: (m: LinkMessage) => void;
}

/**
 * One connection to an MQTT broker (mqtt.js v5), shared by every user in the process that names
 * the same broker config: users `register`; the connection opens on the turn after the first
 * registers (so every user of one deploy has registered, and the will is the first user's),
 * and closes when the last one has `deregister`ed. A lost connection is retried after the
 * backoff delay, growing per failed attempt and starting again at the first delay after a
 * connection succeeds; on every (re)connection the link subscribes to its users' topics again
 * (the broker then sends their retained messages again).
 *
 * Events: `'state'` (LinkStateChange) on every change of `state`; `'subscribed'` (the topics)
 * once the broker has granted subscriptions; `'subscribe-refused'` ({topics, reason}) when its
 * SUBACK refuses some (an ACL that denies the topic): messages on those topics never arrive.
 */
export class BrokerLink extends EventEmitter {
  readonly name: string;
  private readonly users = new Set<LinkUser>();
  private readonly subscriptions: Subscription[] = [];
  private client: MqttClient | undefined;
  private stateValue: LinkState = 'idle';
  private lastDetail = '';
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private openTimer: NodeJS.Immediate | undefined;
  private closing: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly options: BrokerLinkOptions) {
    super();
    this.name = options.name ?? `broker ${options.url}`;
    resolveBackoff(options.backoff);
  }

  get state(): LinkState {
    return this.stateValue;
  }

  /** Why the link is in its state (the last error or refusal while not connected). */
  get detail(): string {
    return this.lastDetail;
  }

  get connected(): boolean {
    return this.stateValue === 'connected';
  }

  /** The protocol spoken: 5 (MQTT 5) or 4 (MQTT 3.1.1). */
  get protocolVersion(): 4 | 5 {
    return this.options.protocolVersion;
  }

  /** Add a user; the first one opens the connection (on the next turn). */
  register(user: LinkUser): void {
    this.users.add(user);
    if (this.client || this.openTimer) return;
    this.openTimer = setImmediate(() => {
      this.openTimer = undefined;
      if (this.users.size > 0 && !this.client) this.open();
    });
  }

  /**
   * Remove a user and its subscriptions (unsubscribed from the broker while connected). After the
   * last user the connection is closed: resolves once it is: a clean DISCONNECT, so the broker
   * does not publish the will, once the messages in flight are acknowledged; if they are not
   * within 1 s (one sent just before a lost connection may never be, under a clean session),
   * the socket is ended without it.
   */
  async deregister(user: LinkUser): Promise<void> {
    if (!this.users.delete(user)) return;
    const mine = this.subscriptions.filter((s) => s.user === user);
    for (const s of mine) this.subscriptions.splice(this.subscriptions.indexOf(s), 1);
    const client = this.client;
    if (this.users.size > 0) {
      const gone = mine.map((s) => s.topic).filter((t) => !this.subscriptions.some((s) => s.topic === t));
      if (client && this.connected && gone.length) await client.unsubscribeAsync(gone).catch(() => undefined);
      return;
    }
    await this.close();
  }

  /** Resolves when the link has no users and its connection is closed (at once if so already). */
  idle(): Promise<void> {
    if (this.stateValue === 'idle') return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Deliver messages on `topic` (an exact topic, no wildcards) to `handler` for as long as `user`
   * is registered; subscribed with QoS 1 now when connected, and again at every reconnection.
   */
  subscribe(user: LinkUser, topic: string, handler: (m: LinkMessage) => void): void {
    this.subscriptions.push({ user, topic, handler });
    if (this.client && this.connected) this.subscribeOnBroker(this.client, [topic]);
  }

  /**
   * Publish; resolves once the broker has the message (QoS 1: its PUBACK). Rejects with a clear
   * error when the link is not connected: nothing is queued to go out later, since a status or an
   * answer that arrives after a reconnection would be stale.
   */
  async publish(topic: string, payload: string | Buffer, options: { retain?: boolean; qos?: 0 | 1; correlationData?: Buffer } = {}): Promise<void> {
    const client = this.client;
    if (!client || !this.connected) throw new Error(`${this.name}: cannot publish to "${topic}": not connected (${this.stateValue}${this.lastDetail ? `: ${this.lastDetail}` : ''})`);
    const opts: IClientPublishOptions = { qos: options.qos ?? 1, retain: options.retain ?? false };
    if (options.correlationData && this.options.protocolVersion === 5) opts.properties = { correlationData: options.correlationData };
    await client.publishAsync(topic, payload, opts);
  }

  /**
   * Subscribe to `topics` (QoS 1) and tell what the broker's SUBACK says: `'subscribed'` with the
   * granted topics, `'subscribe-refused'` with the refused ones and the reason. No SUBACK (the
   * connection dropped first) tells nothing: the next connection subscribes again.
   */
  private subscribeOnBroker(client: MqttClient, topics: string[]): void {
    client.subscribe(topics, { qos: 1 }, (err, _granted, packet) => {
      if (this.client !== client) return;
      const codes = (packet as { granted?: number[] } | undefined)?.granted;
      if (err && !codes) return;
      // One SUBACK answers the whole request: its reason codes are in the order of `topics`.
      const refused = err ? topics.filter((_t, i) => codes![i] === undefined || (codes![i] & 0x80) !== 0) : [];
      if (refused.length) this.emit('subscribe-refused', { topics: refused, reason: err ? err.message : 'refused' });
      const granted = topics.filter((t) => !refused.includes(t));
      if (granted.length) this.emit('subscribed', granted);
    });
  }

  private open(): void {
    const o = this.options;
    const will = [...this.users].find((u) => u.will)?.will;
    const clientOptions: IClientOptions = {
      protocolVersion: o.protocolVersion,
      clientId: o.clientId || undefined,
      username: o.username || undefined,
      password: o.password || undefined,
      keepalive: o.keepaliveS ?? 15,
      clean: true,
      // Reconnection is the link's own, with backoff; subscriptions are renewed by the link.
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: 10_000,
      will: will ? { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true } : undefined,
    };
    if (o.tls) {
      clientOptions.ca = o.tls.ca;
      clientOptions.cert = o.tls.cert;
      clientOptions.key = o.tls.key;
      clientOptions.rejectUnauthorized = o.tls.rejectUnauthorized;
    }
    this.setState('connecting', '');
    const client = connect(o.url, clientOptions);
    this.client = client;
    client.on('connect', () => {
      if (this.client !== client || this.closing) return;
      this.attempt = 0;
      const topics = [...new Set(this.subscriptions.map((s) => s.topic))];
      if (topics.length) this.subscribeOnBroker(client, topics);
      this.setState('connected', '');
    });
    client.on('message', (topic, payload, packet) => {
      const m: LinkMessage = { topic, payload, retain: packet.retain };
      const props = packet.properties;
      if (props?.responseTopic) m.responseTopic = props.responseTopic;
      if (props?.correlationData) m.correlationData = props.correlationData;
      for (const s of this.subscriptions.filter((x) => x.topic === topic)) s.handler(m);
    });
    // mqtt.js reports refusals (bad credentials) and socket errors here; the 'close' that follows retries.
    client.on('error', (err) => {
      this.lastDetail = err.message;
    });
    client.on('close', () => {
      if (this.client !== client || this.closing) return;
      this.attempt += 1;
      const delay = backoffDelay(this.attempt, o.backoff);
      const why = this.lastDetail || 'connection closed';
      this.setState('disconnected', `${why}; retrying in ${delay} ms`);
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        if (this.client !== client || this.closing) return;
        this.lastDetail = '';
        this.setState('connecting', '');
        client.reconnect();
      }, delay);
    });
  }

  private close(): Promise<void> {
    if (this.closing) return this.closing;
    if (this.openTimer) {
      clearImmediate(this.openTimer);
      this.openTimer = undefined;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const client = this.client;
    if (!client) {
      this.setState('idle', '');
      return Promise.resolve();
    }
    this.setState('closing', '');
    this.closing = (async () => {
      // A graceful DISCONNECT when connected (the will is not published); otherwise just end.
      // mqtt.js waits for every unacknowledged QoS 1 message first, and one sent just before a
      // lost connection may never be acknowledged under a clean session: wait for them at most
      // CLOSE_DRAIN_MS, then end the socket without DISCONNECT (the broker then publishes the
      // will, the same offline status the users have just published).
      const drained = client.connected && (await outgoingDrained(client, CLOSE_DRAIN_MS));
      await client.endAsync(!drained).catch(() => undefined);
      this.client = undefined;
      this.closing = undefined;
      this.setState('idle', '');
      // A user that registered while the connection closed (a redeploy) opens it again.
      if (this.users.size > 0) this.open();
    })();
    return this.closing;
  }

  private setState(state: LinkState, detail: string): void {
    if (state === 'connected' || state === 'idle') this.lastDetail = '';
    const changed = state !== this.stateValue;
    this.stateValue = state;
    if (changed) this.emit('state', { state, detail } satisfies LinkStateChange);
    if (state === 'idle') for (const w of this.idleWaiters.splice(0)) w();
  }
}
