import type { BackoffOptions, ConnectionStatus, LineConnection, LineDelimiter, SerialSettings, StatusDetail } from '../../lib/io';
import type { NodeStatus, RedNode } from './red';

// The typed face of a `workcell-serial` connection node (nodes/serial.ts) for the nodes that use
// it: here, beside the other shared node types, so a device config node needs nothing from
// nodes/serial.ts itself.

/** A node that uses a serial connection: a device config node or a flow node. */
export interface SerialUser {
  id: string;
  /** Set by Node-RED when the node has a name; used in messages. */
  name?: string;
  /** Set by Node-RED on every node; the connection's status is shown on it unless `onStatus` is given. */
  status?(status: NodeStatus): void;
  /** Called with every status change of the connection (and the current one at `register`). */
  onStatus?(status: ConnectionStatus, detail: StatusDetail): void;
}

/**
 * The typed face of a `workcell-serial` config node for other nodes
 * (`RED.nodes.getNode(def.serial) as SerialConfigNode`).
 *
 * Lifecycle, as the core MQTT broker node: `register(user)` adds a user; the first user opens
 * the connection. Every status change fans out to every user. `deregister(user, done)` removes
 * it; when the last user leaves, the connection is closed and `done` is called only once the
 * port is really closed. Read `connection` after `register()`: a new one is made when a user
 * registers after the previous connection was closed.
 */
export interface SerialConfigNode extends RedNode {
  readonly connection: LineConnection;
  /** The node's settings, typed and defaulted (read-only): for a device that builds its own connection. */
  readonly settings: Readonly<SerialConnectionSettings>;
  /** The node's name, else its address: how messages name the connection. */
  readonly label: string;
  /** Throws (a sentence naming both) while a device owns the line (see `claim`). */
  register(user: SerialUser): void;
  deregister(user: SerialUser, done: () => void): void;
  /**
   * Take the line for one device, which builds its own driver-specific connection from
   * `settings` and must be its only user. Throws a sentence naming both when another device
   * owns it or generic users are registered (`register` refuses them while it is owned).
   * Claiming again with the same id is allowed (idempotent).
   */
  claim(device: SerialOwner): void;
  /** Give the line back (the device's connection is closed). No-op for a non-owner. */
  release(device: SerialOwner): void;
}

/** A device that owns a connection node's line exclusively. */
export interface SerialOwner {
  id: string;
  /** The device's name, as messages name it. */
  name: string;
}

/** A `workcell-serial` node's configuration. */
export interface SerialConnectionSettings {
  /** A serial device path or `tcp://host:port` (environment variables already substituted). */
  address: string;
  /** Line settings: baudRate, dataBits, parity, stopBits (all set). */
  serial: SerialSettings;
  delimiter: LineDelimiter;
  /** Reconnect backoff. */
  backoff: BackoffOptions & { minMs: number; maxMs: number };
}
