import { LineConnection, createTransport, listSerialPorts, type ConnectionStatus, type LineDelimiter, type StatusDetail } from '../lib/io';
import { configure, nodeLabel, type ConfigOf } from './shared/editor-fields';
import { SERIAL_FIELDS } from './shared/node-fields';
import type { NodeStatus } from './shared/red';
import type { SerialConfigNode, SerialConnectionSettings, SerialOwner, SerialUser } from './shared/serial-connection';

// Only what this file uses of the Node-RED runtime API (with `_`, the message catalogue, which
// the shared RedAPI does not declare).
interface AdminResponse { json(body: unknown): void }
type Middleware = (req: unknown, res: AdminResponse, next: () => void) => void;
interface RedAPI {
  nodes: {
    createNode(node: object, def: object): void;
    registerType(type: string, ctor: (this: never, def: never) => void, options?: object): void;
  };
  httpAdmin: { get(path: string, ...handlers: Middleware[]): void };
  auth: { needsPermission(permission: string): Middleware };
  _(key: string, substitutions?: Record<string, unknown>): string;
}

interface SerialConfigDef {
  id: string;
  name?: string;
  [field: string]: unknown;
}

const delimiters: Record<ConfigOf<typeof SERIAL_FIELDS>['delimiter'], LineDelimiter> = { lf: '\n', crlf: '\r\n', cr: '\r' };

/** The connection's settings from the node's fields (read and checked by editor-fields.ts). */
function connectionSettings(config: ConfigOf<typeof SERIAL_FIELDS>): SerialConnectionSettings {
  return {
    address: config.address,
    serial: { baudRate: config.baudRate, dataBits: config.dataBits, parity: config.parity, stopBits: config.stopBits },
    delimiter: delimiters[config.delimiter],
    backoff: { minMs: config.backoffMin, maxMs: config.backoffMax },
  };
}

/** A connection config node as messages name it: its name, else its address. */
function connectionLabel(def: SerialConfigDef, address: string): string {
  return def.name || address || `serial ${def.id}`;
}

/** A user as messages name it. */
function userLabel(user: SerialUser): string {
  return user.name || user.id;
}

function serialNodes(RED: RedAPI): void {
  function statusFor(status: ConnectionStatus, detail: StatusDetail): NodeStatus {
    switch (status) {
      case 'connecting': return { fill: 'yellow', shape: 'ring', text: RED._('serial.status.connecting') };
      case 'connected': return { fill: 'green', shape: 'dot', text: RED._('serial.status.connected') };
      case 'reconnecting': return {
        fill: 'red', shape: 'ring',
        text: RED._('serial.status.retrying', { seconds: Math.max(1, Math.round((detail.inMs ?? 0) / 1000)) }),
      };
      case 'disconnected': return { fill: 'red', shape: 'ring', text: RED._('serial.status.disconnected') };
      default: return {};
    }
  }

  function SerialConfigNodeCtor(this: SerialConfigNode, def: SerialConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const configured = configure(node, SERIAL_FIELDS, def, nodeLabel('serial connection', def));
    if (!configured.ok) {
      // Nothing connects: a device that claims the line, or a user that registers, is refused with why.
      const refuse = (who: string): never => {
        throw new Error(`${who}: connection "${def.name || def.id}" did not start: ${configured.error.message}`);
      };
      node.claim = (device) => refuse(device.name);
      node.register = (user) => refuse(userLabel(user));
      node.release = () => undefined;
      node.deregister = (_user, done) => done();
      return;
    }
    const settings = connectionSettings(configured.config);
    Object.freeze(settings.serial);
    Object.freeze(settings.backoff);
    Object.freeze(settings);
    const label = connectionLabel(def, settings.address);
    const users = new Map<string, SerialUser>();
    // The device that owns the line exclusively (it builds its own connection from `settings`).
    let owner: SerialOwner | undefined;
    let connection: LineConnection | undefined;
    let closing: Promise<void> | undefined;
    let lastReason: string | undefined;

    function fanOut(status: ConnectionStatus, detail: StatusDetail): void {
      for (const user of users.values()) tell(user, status, detail);
    }
    function tell(user: SerialUser, status: ConnectionStatus, detail: StatusDetail): void {
      try {
        if (user.onStatus) user.onStatus(status, detail);
        else user.status?.(statusFor(status, detail));
      } catch (error) {
        node.warn(`serial ${settings.address}: a user's status handler failed: ${(error as Error).message}`);
      }
    }

    function create(): LineConnection {
      // An invalid address throws an EndpointError; createNode callers get it as a node error.
      const made = new LineConnection(createTransport(settings.address, { serial: settings.serial }), {
        framing: { delimiter: settings.delimiter },
        reconnect: settings.backoff,
      });
      made.on('status', (status, detail) => fanOut(status, detail));
      made.on('connected', () => { lastReason = undefined; node.log(`${made.description}: connected`); });
      made.on('disconnected', ({ reason }) => node.warn(`${made.description}: disconnected (${reason})`));
      made.on('connectFailed', ({ error }) => {
        // Log each distinct reason once, not every retry.
        if (error.message !== lastReason) node.warn(error.message);
        lastReason = error.message;
      });
      return made;
    }

    Object.defineProperty(node, 'connection', {
      enumerable: true,
      get(): LineConnection {
        if (!connection) connection = create();
        return connection;
      },
    });

    Object.defineProperty(node, 'settings', { enumerable: true, value: settings, writable: false });
    Object.defineProperty(node, 'label', { enumerable: true, value: label, writable: false });

    node.claim = (device: SerialOwner) => {
      if (owner && owner.id !== device.id) {
        throw new Error(`${device.name}: connection "${label}" is already used by device "${owner.name}"`);
      }
      const other = users.values().next();
      if (!other.done) {
        throw new Error(`${device.name}: connection "${label}" is already used by node "${userLabel(other.value)}"; a device needs its connection to itself`);
      }
      owner = device;
    };

    node.release = (device: SerialOwner) => {
      if (owner?.id === device.id) owner = undefined;
    };

    node.register = (user: SerialUser) => {
      if (owner && owner.id !== user.id) {
        throw new Error(`${userLabel(user)}: connection "${label}" is already used by device "${owner.name}", which needs it to itself`);
      }
      users.set(user.id, user);
      const current = node.connection;
      tell(user, current.status, current.statusDetail);
      if (users.size !== 1 || current.status !== 'idle') return;
      if (closing) {
        // The previous connection is still releasing the port (a lock on a serial device).
        void closing.then(() => { if (connection === current && current.status === 'idle') current.open(); });
      } else {
        current.open();
      }
    };

    const shutDown = (): Promise<void> => {
      const current = connection;
      connection = undefined;
      if (!current) return closing ?? Promise.resolve();
      // Later registrations make a new connection; its open waits for this teardown (port lock).
      closing = current.close().finally(() => { closing = undefined; });
      return closing;
    };

    node.deregister = (user: SerialUser, done: () => void) => {
      users.delete(user.id);
      if (users.size > 0) {
        done();
        return;
      }
      shutDown().then(() => done(), () => done());
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      users.clear();
      owner = undefined;
      shutDown().then(() => done(), (error) => { node.error(error); done(); });
    });

    if (!settings.address) node.warn(RED._('serial.errors.noAddress'));
  }

  RED.nodes.registerType('workcell-serial', SerialConfigNodeCtor as never);

  RED.httpAdmin.get('/workcell/serial-ports', RED.auth.needsPermission('workcell.read'), (_req, res) => {
    void listSerialPorts().then((list) => res.json(list));
  });
}

export = serialNodes;
