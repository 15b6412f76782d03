import { Device, DeviceHealth, EStop, OperationTable, Progress, WorkcellError, showValue, shielded } from '../../lib';
import type { BackoffOptions, SerialSettings } from '../../lib/io';
import type { SerialConfigNode } from '../serial';
import { getCell } from './cell-registry';
import { checkpointedInput, failRunOf, shortText } from './checkpoint-input';
import { NodeDef, RedAPI, RedNode, closeTimeoutMs } from './red';

/** A driver as the node layer needs it: the device contract plus a connection lifecycle. */
export interface ConnectedDevice extends Device {
  /** Start connecting (and reconnecting); resolves once the first attempt has been made. */
  open(): Promise<void>;
  /** Disconnect for good; resolves once the connection is closed. */
  close(): Promise<void>;
}

export interface DeviceConfigDef extends NodeDef {
  cell: string;
  safeGroup?: string | number;
  ownership?: 'wait' | 'fail-fast';
  critical?: boolean;
  /** The id of a `workcell-serial` connection node whose address and line settings apply; blank: the kind's own fields. */
  serial?: string;
}

/** What an action node finds on its device config node. */
export interface DeviceConfigNode extends RedNode {
  device: ConnectedDevice | undefined;
  cellId: string;
  /** Why there is no device (a bad configuration, a connection node in use), for the action nodes' status and errors. */
  configError?: string;
}

/**
 * The connection settings a device takes from its `workcell-serial` node. The device still
 * builds its own driver-specific connection (framing, pipelining, reply matching) from them and
 * owns it exclusively; the connection node's delimiter does not apply.
 */
export interface DeviceConnectionSettings {
  /** A serial device path or `tcp://host:port`. */
  address: string;
  /** baudRate, dataBits, parity, stopBits. */
  serial: SerialSettings;
  /** The connection node's reconnect backoff. */
  reconnect: BackoffOptions;
  /** The connection node as messages name it. */
  label: string;
}

export interface DeviceKind<D extends DeviceConfigDef> {
  /** The device config node type, e.g. `workcell-gantry-device`. */
  configType: string;
  /** The action node type, e.g. `workcell-gantry`. */
  actionType: string;
  /** The kind's name in the editor's admin API (`/workcell/kinds/<kind>/operations`). */
  kind: string;
  operations: OperationTable;
  /**
   * Build the driver from the config node's properties (and credentials). Throw on bad config.
   * `connection` is given when the node takes its connection from a `workcell-serial` node: its
   * address and line settings then replace the node's own address and baud rate fields.
   */
  create(def: D, node: RedNode, connection: DeviceConnectionSettings | undefined): ConnectedDevice;
  credentials?: Record<string, { type: string }>;
}

const STATUS_FILL = { connecting: 'yellow', ready: 'green', busy: 'blue', fault: 'red', disconnected: 'red' } as const;

/** The node status for a device's health. */
export function healthStatus(h: DeviceHealth): { fill: 'yellow' | 'green' | 'blue' | 'red'; shape: 'dot' | 'ring'; text: string } {
  const untrusted = h.positionTrusted === false ? ' (not homed)' : '';
  return {
    fill: h.positionTrusted === false && h.status === 'ready' ? 'yellow' : STATUS_FILL[h.status],
    shape: h.status === 'ready' || h.status === 'busy' ? 'dot' : 'ring',
    text: shortText(`${h.status}${h.detail ? `: ${h.detail}` : ''}${untrusted}`),
  };
}

interface Shown {
  /** The node's own `status` (what Node-RED set up), called for health updates. */
  show: (status: object) => void;
  /** The health status key the node shows, or null when it shows something else. */
  key: string | null;
  /** The health change count when the node last set a status of its own (an error, progress, held). */
  ownAt: number;
}

/**
 * Shows one device's health on its action nodes. Health changes are coalesced to one update per
 * event-loop turn, and a node is only updated when what it shows differs: a no-op step's
 * busy → ready flicker, which no one could see, costs no status traffic. The last writer still
 * wins as before: a status a node set itself (an error, progress) after the last health change
 * stays until the next health change.
 */
class HealthDisplay {
  private readonly nodes = new Map<RedNode, Shown>();
  private changes = 0;
  private pending: NodeJS.Immediate | undefined;
  /** What the last flush showed: the health's display inputs, and the status key. */
  private flushedInputs: string | null = null;
  private flushedKey: string | null = null;
  private readonly onHealth = (h: DeviceHealth) => {
    this.changes++;
    // Back to what every node already shows (a no-op step's busy -> ready within one turn): the
    // pending flush would change nothing, so it is dropped instead of run.
    if (displayInputs(h) === this.flushedInputs && this.allShow(this.flushedKey)) {
      if (this.pending) {
        clearImmediate(this.pending);
        this.pending = undefined;
      }
      return;
    }
    if (this.pending) return;
    this.pending = setImmediate(() => this.flush());
  };

  constructor(private readonly device: Device) {}

  attach(node: RedNode): void {
    if (this.nodes.size === 0) this.device.on('health', this.onHealth);
    const own = node.status;
    const entry: Shown = { show: (status) => own.call(node, status), key: null, ownAt: -1 };
    // Statuses the node sets itself (checkpoint errors, progress, held) are the node's own.
    node.status = (status: Parameters<RedNode['status']>[0]) => {
      entry.key = null;
      entry.ownAt = this.changes;
      own.call(node, status);
    };
    this.nodes.set(node, entry);
    this.showOn(entry, healthStatus(this.device.health));
  }

  detach(node: RedNode): void {
    this.nodes.delete(node);
    if (this.nodes.size === 0) this.device.off('health', this.onHealth);
  }

  private allShow(key: string | null): boolean {
    for (const entry of this.nodes.values()) if (entry.key !== key) return false;
    return true;
  }

  private flush(): void {
    this.pending = undefined;
    const health = this.device.health;
    const status = healthStatus(health);
    const key = statusKey(status);
    this.flushedInputs = displayInputs(health);
    this.flushedKey = key;
    for (const entry of this.nodes.values()) {
      // A status of the node's own set after the last health change stays (last writer wins).
      if (entry.ownAt === this.changes) continue;
      this.showOn(entry, status, key);
    }
  }

  private showOn(entry: Shown, status: ReturnType<typeof healthStatus>, key = statusKey(status)): void {
    if (entry.key === key) return;
    entry.key = key;
    entry.show(status);
  }
}

/** What `healthStatus` depends on: equal inputs, equal status. */
function displayInputs(h: DeviceHealth): string {
  return `${h.status}\u0000${h.detail}\u0000${h.positionTrusted === false}`;
}

function statusKey(status: ReturnType<typeof healthStatus>): string {
  return `${status.fill}|${status.shape}|${status.text}`;
}

const displays = new WeakMap<Device, HealthDisplay>();

function healthDisplay(device: Device): HealthDisplay {
  let d = displays.get(device);
  if (!d) displays.set(device, (d = new HealthDisplay(device)));
  return d;
}

/**
 * Register a device kind's two node types, one way for every kind:
 * - the config node owns the driver, adds it to its cell (with its safe-order group), opens the
 *   connection, fans health out to its action nodes as status, and on close brings a busy or
 *   owned device to a stop and its safe state (within Node-RED's close timeout) before it
 *   disconnects and calls done; with `serial` set it takes the address and line settings of
 *   that `workcell-serial` node, which it claims exclusively (a second device, or generic users
 *   of the node, is a deploy-time error naming both, and the device is not opened);
 * - the action node runs one operation per message, as a step of the message's run (or under
 *   the cell outside any run): operation from the editor or `msg.operation`, parameters from the
 *   editor overlaid by `msg.params`, validated before anything is sent; result on `msg.payload`.
 * - `GET /workcell/kinds/<kind>/operations` serves the declared table to the editor form.
 */
export function registerDeviceKind<D extends DeviceConfigDef>(RED: RedAPI, kind: DeviceKind<D>): void {
  /**
   * The connection node a device config node names, claimed for this device; undefined when
   * `def.serial` is blank. Throws a sentence when the id does not resolve to a `workcell-serial`
   * node, or when that node is already used (by another device or by generic users).
   */
  function claimConnection(def: D, deviceName: string): SerialConfigNode | undefined {
    const id = typeof def.serial === 'string' ? def.serial.trim() : '';
    if (!id) return undefined;
    const found = RED.nodes.getNode(id) as (RedNode & Partial<SerialConfigNode>) | null;
    if (!found) throw new WorkcellError('bad-config', `${deviceName}: the connection node ${JSON.stringify(id)} does not exist (deleted, disabled, or not deployed)`);
    if (found.type !== 'workcell-serial' || typeof found.claim !== 'function' || !found.settings) {
      throw new WorkcellError('bad-config', `${deviceName}: the connection node ${JSON.stringify(id)} is a ${String(found.type)} node, not a workcell-serial connection`);
    }
    const serial = found as SerialConfigNode;
    serial.claim({ id: def.id, name: deviceName });
    return serial;
  }

  function ConfigNode(this: DeviceConfigNode, def: D): void {
    RED.nodes.createNode(this, def);
    const node = this;
    node.cellId = def.cell;
    const cell = getCell(def.cell);
    // The same default name the kinds give their drivers (`<kind> <id>`).
    const deviceName = def.name || `${kind.kind} ${def.id}`;
    let serial: SerialConfigNode | undefined;
    const refuse = (err: unknown): void => {
      node.configError = err instanceof Error ? err.message : String(err);
      node.error(err);
      node.status({ fill: 'red', shape: 'ring', text: shortText(node.configError) });
    };
    try {
      serial = claimConnection(def, deviceName);
      const s = serial?.settings;
      node.device = kind.create(def, node, serial && s ? { address: s.address, serial: { ...s.serial }, reconnect: { ...s.backoff }, label: serial.label } : undefined);
    } catch (err) {
      if (serial) serial.release({ id: def.id, name: deviceName });
      node.device = undefined;
      // Nothing was opened and nothing stays claimed: the action nodes show why.
      refuse(err);
      return;
    }
    const device = node.device;
    device.ownership = def.ownership === 'fail-fast' ? 'fail-fast' : 'wait';
    device.critical = def.critical === true;
    if (cell) {
      try {
        cell.addDevice(device, Number(def.safeGroup) || 0);
      } catch (err) {
        // A device its cell refuses (a duplicate name, a stop that would always time out) is
        // not opened: out of its cell, the emergency stop would not reach it.
        node.device = undefined;
        serial?.release({ id: def.id, name: deviceName });
        refuse(err);
        void device.close().catch(() => undefined);
        return;
      }
    } else {
      node.warn(`${device.name}: no abort context (cell) configured: the emergency stop will not reach this device`);
    }
    device.on('error', (err: unknown) => node.warn(err));
    device.open().catch((err: unknown) => node.warn(err));

    node.on('close', (_removed: boolean, done: () => void) => {
      void (async () => {
        const budget = Math.max(100, closeTimeoutMs(RED) - 1500);
        const deadline = Date.now() + budget;
        await cell?.settled();
        if (device.status === 'busy' || device.owner !== null) {
          await device.stop(new EStop('redeploy')).catch(() => undefined);
          const left = Math.max(50, deadline - Date.now());
          await shielded(`${device.name}: safe on redeploy`, left, (scope) => device.safe(scope.signal)).catch((err: unknown) => node.warn(err));
        }
        cell?.removeDevice(device);
        await device.close().catch((err: unknown) => node.warn(err));
        // The line is free only once the device's connection is closed (a serial port's lock).
        serial?.release({ id: def.id, name: deviceName });
      })().finally(done);
    });
  }
  RED.nodes.registerType(kind.configType, ConfigNode as unknown as (this: RedNode, def: NodeDef) => void, kind.credentials ? { credentials: kind.credentials } : undefined);

  interface ActionDef extends NodeDef {
    device: string;
    operation?: string;
    params?: Record<string, unknown> | string;
  }

  function ActionNode(this: RedNode, def: ActionDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = RED.nodes.getNode(def.device) as DeviceConfigNode | null;
    const device = config?.device;
    let editorParams: Record<string, unknown> = {};
    try {
      editorParams = typeof def.params === 'string' ? (def.params ? JSON.parse(def.params) : {}) : (def.params ?? {});
    } catch {
      node.error(`${def.name || kind.actionType}: the saved parameters are not valid JSON: ${showValue(def.params)}`);
    }
    if (!config || !device) {
      const why = config?.configError;
      node.status({ fill: 'red', shape: 'ring', text: why ? shortText(why) : 'no device configured' });
      const message = `${def.name || kind.actionType}: no ${kind.kind} device is configured for this node${why ? `: ${why}` : ''}`;
      const deviceName = config?.name || kind.kind;
      node.on('input', (msg, _s, done) => {
        const err = new WorkcellError('no-device', message);
        failRunOf(msg, err, def.name || `${deviceName}: ${String(msg.operation ?? def.operation)}`);
        done(err);
      });
      return;
    }
    healthDisplay(device).attach(node);
    node.on('close', () => healthDisplay(device).detach(node));

    // Per node, not per message: the checkpoint's label, the progress sink, the step's label
    // for the editor's operation. A step is named by the node's name, so that an outcome
    // "aborted at move to B" says which of several moves on one device; unnamed, by
    // "<device>: <operation>".
    const where = `${device.name}: ${def.name || def.operation || kind.kind}`;
    const onProgress = (p: Progress) => node.status({ fill: 'blue', shape: 'dot', text: shortText(p.fraction !== undefined ? `${Math.round(p.fraction * 100)}% ${p.text}` : p.text) });
    const editorStep = def.name || `${device.name}: ${String(def.operation)}`;
    const stepOf = (operation: unknown): string => (operation === def.operation ? editorStep : def.name || `${device.name}: ${String(operation)}`);
    checkpointedInput(
      node,
      {
        cellId: config.cellId,
        label: () => where,
        step: (msg) => stepOf(msg.operation !== undefined ? msg.operation : def.operation),
        onHeld: (held) => node.status(held ? { fill: 'yellow', shape: 'ring', text: 'held' } : healthStatus(device.health)),
      },
      (msg, send, ctx) => {
        const operation = msg.operation !== undefined ? msg.operation : def.operation;
        if (msg.params !== undefined && (typeof msg.params !== 'object' || msg.params === null || Array.isArray(msg.params))) {
          throw new WorkcellError('invalid-parameters', `${device.name}: ${String(operation)}: msg.params must be an object of parameters, got ${showValue(msg.params)}`, {
            subject: device.name,
            operation: String(operation),
            value: msg.params,
          });
        }
        // validateParams reads the parameters and gives the driver its own copy, so the editor's
        // object can go in as it is when the message brings none.
        const params =
          msg.operation !== undefined && msg.operation !== def.operation
            ? { ...(msg.params as object) }
            : msg.params === undefined
              ? editorParams
              : { ...editorParams, ...(msg.params as object) };
        const name = String(operation);
        const runId = ctx.run?.id;
        return ctx
          .step(stepOf(operation), (signal) => device.execute(name, params, { signal, runId, onProgress }))
          .then((result) => {
            msg.payload = result;
            send(msg);
          });
      },
    );
  }
  RED.nodes.registerType(kind.actionType, ActionNode as unknown as (this: RedNode, def: NodeDef) => void);

  RED.httpAdmin.get(`/workcell/kinds/${kind.kind}/operations`, RED.auth.needsPermission('workcell.read'), (_req, res) => {
    res.json({ kind: kind.kind, operations: kind.operations });
  });
}
