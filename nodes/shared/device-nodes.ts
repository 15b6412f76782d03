import { Device, DeviceHealth, EStop, OperationTable, Progress, WorkcellError, describeError, showValue, shielded } from '../../lib';
import type { BackoffOptions, SerialSettings } from '../../lib/io';
import type { SerialConfigNode } from './serial-connection';
import { cellFailure, getCell, noCellError } from './cell-registry';
import { checkpointedInput, failRunOf, shortText } from './checkpoint-input';
import { configure, nodeLabel, type FieldTable } from './editor-fields';
import { hookStopping, stoppingForDeploy } from './flows-stopping';
import { deviceActionFields, type DeviceSettings } from './node-fields';
import { adoptDevice, configDigest, parkDevice, release } from './parked-devices';
import { NodeDef, RedAPI, RedNode, closeTimeoutMs } from './red';

/** A driver as the node layer needs it: the device contract plus a connection lifecycle. */
export interface ConnectedDevice extends Device {
  /** Start connecting (and reconnecting); resolves once the first attempt has been made. */
  open(): Promise<void>;
  /** Disconnect for good; resolves once the connection is closed. */
  close(): Promise<void>;
  /**
   * What keeps a connected device from doing its work (GRBL's alarm lock: `alarm — home with
   * $H`), or null; a device without such a state leaves it out. Read with each health change.
   */
  readonly lockout?: string | null;
}

/**
 * A device config node's saved properties: the common ones (`cell`; `serial`, the id of a
 * `workcell-serial` connection node whose address and line settings apply, blank for the
 * kind's own fields; safe group, ownership, critical) and the kind's own, all read by the
 * kind's field table.
 */
export type DeviceConfigDef = NodeDef;

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

export interface DeviceKind<C extends DeviceSettings> {
  /** The device config node type, e.g. `workcell-gantry-device`. */
  configType: string;
  /** The action node type, e.g. `workcell-gantry`. */
  actionType: string;
  /** The kind's name in the editor's admin API (`/workcell/kinds/<kind>/operations`). */
  kind: string;
  operations: OperationTable;
  /** The config node's fields (`deviceFields(...)` of editor-fields: the common ones and the kind's own). */
  fields: FieldTable<C>;
  /**
   * Build the driver from the config node's fields, read and checked (`name` is the device's
   * name, defaulted). Throw a sentence on what the fields cannot say (an address that does not
   * parse). `connection` is given when the node takes its connection from a `workcell-serial`
   * node: its address and line settings then replace the node's own address and baud rate fields.
   * The config node relays the driver's `'warning'` events (strings) and `'error'` events to
   * the log; a driver kept across a deploy is not built again (see registerDeviceKind).
   */
  create(config: C, node: RedNode, connection: DeviceConnectionSettings | undefined): ConnectedDevice;
  credentials?: Record<string, { type: string }>;
  /**
   * For a device whose connection belongs to another config node (a Modbus device's
   * `workcell-modbus` bus): what identifies that connection now. It joins the digest that decides
   * whether a deploy keeps the device's driver, so a driver is kept only while its connection
   * is the same one (a redeployed bus node makes a new bus, and the device is built anew on it).
   */
  connectionKey?(config: C): unknown;
}

/** An operation as step names show it: a name as it is, anything else (a bad msg.operation) as showValue shows it. */
function operationText(operation: unknown): string {
  return typeof operation === 'string' ? operation : showValue(operation);
}

const STATUS_FILL = { connecting: 'yellow', ready: 'green', busy: 'blue', fault: 'red', disconnected: 'red' } as const;

/**
 * The node status for a device's health, one word first: the status and its detail (`ready:
 * Idle`, `busy: Move`, `fault: …`), except that "ready" is kept for a device that can do its
 * work: a ready device with a `lockout` shows that instead (`alarm — home with $H`), and one
 * whose position is untrusted `not homed` (with its detail); both as a yellow ring.
 */
export function healthStatus(h: DeviceHealth, lockout: string | null = null): { fill: 'yellow' | 'green' | 'blue' | 'red'; shape: 'dot' | 'ring'; text: string } {
  if (h.status === 'ready' && (lockout || h.positionTrusted === false)) {
    return { fill: 'yellow', shape: 'ring', text: shortText(lockout || `not homed${h.detail ? `: ${h.detail}` : ''}`) };
  }
  const untrusted = h.positionTrusted === false ? ' (not homed)' : '';
  return {
    fill: STATUS_FILL[h.status],
    shape: h.status === 'ready' || h.status === 'busy' ? 'dot' : 'ring',
    text: shortText(`${h.status}${h.detail ? `: ${h.detail}` : ''}${untrusted}`),
  };
}

/**
 * The status an action node shows for its device's health when it does not hold the device's
 * step: the same health, quietly (a ring); a busy device shows only "busy" in grey, since the
 * step's name belongs to the node running it.
 */
export function quietHealthStatus(h: DeviceHealth, lockout: string | null = null): { fill: 'yellow' | 'green' | 'blue' | 'red' | 'grey'; shape: 'dot' | 'ring'; text: string } {
  if (h.status === 'busy') return { fill: 'grey', shape: 'ring', text: 'busy' };
  return { ...healthStatus(h, lockout), shape: 'ring' };
}

/** The device's lockout, if it has that state (see `ConnectedDevice.lockout`). */
function lockoutOf(device: Device): string | null {
  return (device as { lockout?: string | null }).lockout ?? null;
}

interface Shown {
  /** The node's own `status` (what Node-RED set up), called for health updates. */
  show: (status: object) => void;
  /** The health status key the node shows, or null when it shows something else. */
  key: string | null;
  /** The health change count when the node last set a status of its own (an error, progress, held). */
  ownAt: number;
  /**
   * The node shows a status of its own set while it held no step (an error, "aborted",
   * "dropped", "held"): it stays until the node's next step or `release`.
   */
  kept: boolean;
  /** Steps of this node running on the device. */
  steps: number;
}

/**
 * Shows one device's health on its action nodes. The node running the device's step shows the
 * health in full (`busy: Move`); the others show it quietly (`quietHealthStatus`), so that where
 * a run is can be seen on the canvas. Health changes are coalesced to one update per event-loop
 * turn, and a node is only updated when what it shows differs: a no-op step's busy → ready
 * flicker, which no one could see, costs no status traffic. A status the node running a step
 * sets itself (progress) stays until the next health change; one a node sets while it runs no
 * step (the error or "aborted" its message ended with, "held") stays until its next step.
 */
class HealthDisplay {
  private readonly nodes = new Map<RedNode, Shown>();
  private changes = 0;
  private pending: NodeJS.Immediate | undefined;
  private readonly onHealth = () => {
    this.changes++;
    // Back to what every node already shows (a no-op step's busy -> ready within one turn): the
    // pending flush would change nothing, so it is dropped instead of run.
    if (this.allShown()) {
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
    const entry: Shown = { show: (status) => own.call(node, status), key: null, ownAt: -1, kept: false, steps: 0 };
    // Statuses the node sets itself (checkpoint errors, progress, held) are the node's own.
    node.status = (status: Parameters<RedNode['status']>[0]) => {
      entry.key = null;
      entry.ownAt = this.changes;
      entry.kept = entry.steps === 0;
      own.call(node, status);
    };
    this.nodes.set(node, entry);
    this.showOn(entry, this.desired(entry, this.device.health));
  }

  detach(node: RedNode): void {
    this.nodes.delete(node);
    if (this.nodes.size === 0) this.device.off('health', this.onHealth);
  }

  /** The node starts a step on the device: it shows the health in full from the next change on. */
  begin(node: RedNode): void {
    const entry = this.nodes.get(node);
    if (!entry) return;
    entry.steps++;
    entry.kept = false;
  }

  /** The node's step has ended. */
  end(node: RedNode): void {
    const entry = this.nodes.get(node);
    if (entry && entry.steps > 0) entry.steps--;
  }

  /** The node's kept status no longer applies (its message went on): show the health again. */
  release(node: RedNode): void {
    const entry = this.nodes.get(node);
    if (!entry) return;
    entry.kept = false;
    this.showOn(entry, this.desired(entry, this.device.health));
  }

  private desired(entry: Shown, health: DeviceHealth): ReturnType<typeof quietHealthStatus> {
    const lockout = lockoutOf(this.device);
    return entry.steps > 0 ? healthStatus(health, lockout) : quietHealthStatus(health, lockout);
  }

  /** Whether a flush now would change nothing. */
  private allShown(): boolean {
    const health = this.device.health;
    for (const entry of this.nodes.values()) {
      if (entry.kept) continue;
      if (entry.key !== statusKey(this.desired(entry, health))) return false;
    }
    return true;
  }

  private flush(): void {
    this.pending = undefined;
    const health = this.device.health;
    for (const entry of this.nodes.values()) {
      if (entry.kept) continue;
      // Progress the running node set after the last health change stays (last writer wins).
      if (entry.ownAt === this.changes) continue;
      this.showOn(entry, this.desired(entry, health));
    }
  }

  private showOn(entry: Shown, status: ReturnType<typeof quietHealthStatus>): void {
    const key = statusKey(status);
    if (entry.key === key) return;
    entry.key = key;
    entry.show(status);
  }
}

function statusKey(status: ReturnType<typeof quietHealthStatus>): string {
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
 * - a deploy that leaves a device's configuration unchanged keeps its connection: a config node
 *   closing for a deploy (not removed) with its device connected, idle, owned by no run and
 *   owing no stop, in a cell that has not tripped, parks the driver (parked-devices.ts) instead of
 *   closing it, and the node that replaces it adopts it when the digest of its type,
 *   configuration, connection settings and credentials is the same; a different digest, a node
 *   that refuses its configuration or does not come back, or the cell tripping meanwhile closes
 *   the parked driver (a new one opens only after that);
 * - the action node runs one operation per message, as a step of the message's run (or under
 *   the cell outside any run): operation from the editor or `msg.operation`, parameters from the
 *   editor overlaid by `msg.params`, validated before anything is sent; result on `msg.payload`.
 * - `GET /workcell/kinds/<kind>/operations` serves the declared table to the editor form.
 */
export function registerDeviceKind<C extends DeviceSettings>(RED: RedAPI, kind: DeviceKind<C>): void {
  /**
   * The connection node a device config node names, claimed for this device; undefined when
   * `def.serial` is blank. Throws a sentence when the id does not resolve to a `workcell-serial`
   * node, or when that node is already used (by another device or by generic users).
   */
  function claimConnection(id: string, deviceId: string, deviceName: string): SerialConfigNode | undefined {
    if (!id) return undefined;
    const found = RED.nodes.getNode(id) as (RedNode & Partial<SerialConfigNode>) | null;
    if (!found) throw new WorkcellError('bad-config', `${deviceName}: the connection node ${JSON.stringify(id)} does not exist (deleted, disabled, or not deployed)`);
    if (found.type !== 'workcell-serial' || typeof found.claim !== 'function') {
      throw new WorkcellError('bad-config', `${deviceName}: the connection node ${JSON.stringify(id)} is a ${found.type} node, not a workcell-serial connection`);
    }
    const serial = found as SerialConfigNode;
    // A connection node whose own configuration is invalid refuses the claim, saying why.
    serial.claim({ id: deviceId, name: deviceName });
    return serial;
  }

  function ConfigNode(this: DeviceConfigNode, def: DeviceConfigDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    hookStopping(RED);
    node.cellId = typeof def.cell === 'string' ? def.cell : '';
    const configured = configure(node, kind.fields, def, nodeLabel(kind.kind, def));
    if (!configured.ok) {
      // Nothing is created or opened: the action nodes show why and refuse their messages.
      node.configError = configured.error.message;
      node.device = undefined;
      void release(def.id);
      return;
    }
    // The same default name the kinds give their drivers (`<kind> <id>`).
    const config = { ...configured.config, name: configured.config.name || `${kind.kind} ${def.id}` };
    const deviceName = config.name;
    const cell = getCell(config.cell);
    let serial: SerialConfigNode | undefined;
    const refuse = (err: unknown): void => {
      // A driver kept from before this deploy is not adopted by a node that refuses.
      void release(def.id);
      const why = describeError(err);
      node.configError = why;
      node.error(why);
      node.status({ fill: 'red', shape: 'ring', text: shortText(why) });
    };
    // A device of a cell that did not start is not opened: nothing moves without its cell.
    if (!cell && cellFailure(config.cell)) {
      node.device = undefined;
      refuse(noCellError(deviceName, config.cell));
      return;
    }
    let digest: string;
    let adopted = false;
    let previousClosed = Promise.resolve();
    try {
      serial = claimConnection(config.serial, def.id, deviceName);
      const s = serial?.settings;
      const connection = serial && s ? { address: s.address, serial: { ...s.serial }, reconnect: { ...s.backoff }, label: serial.label } : undefined;
      digest = configDigest({ type: kind.configType, config, connection, credentials: node.credentials ?? null, connectionKey: kind.connectionKey?.(config) });
      const kept = adoptDevice(def.id, digest);
      previousClosed = kept.closing;
      adopted = kept.device !== undefined;
      node.device = (kept.device as ConnectedDevice | undefined) ?? kind.create(config, node, connection);
    } catch (err) {
      if (serial) serial.release({ id: def.id, name: deviceName });
      node.device = undefined;
      // Nothing was opened and nothing stays claimed: the action nodes show why.
      refuse(err);
      return;
    }
    const device = node.device;
    device.ownership = config.ownership;
    device.critical = config.critical;
    if (cell) {
      try {
        cell.addDevice(device, config.safeGroup);
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
    const onError = (err: unknown) => node.warn(err);
    const onWarning = (text: string) => node.warn(text);
    device.on('error', onError);
    device.on('warning', onWarning);
    // A kept driver is connected already; a new one opens once the one it replaces has closed.
    if (!adopted) void previousClosed.then(() => device.open()).catch((err: unknown) => node.warn(err));

    node.on('close', (removed: boolean, done: () => void) => {
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
        device.off('error', onError);
        device.off('warning', onWarning);
        // The line is free only once the device's connection is closed (a serial port's lock).
        const closeForGood = async () => {
          await device.close().catch((err: unknown) => node.warn(err));
          serial?.release({ id: def.id, name: deviceName });
        };
        const idle = (device.status === 'ready' || device.status === 'fault') && device.owner === null && !device.owesStop;
        const cellCalm = !cell || (cell.state !== 'aborting' && cell.state !== 'aborted');
        if (!removed && stoppingForDeploy() && idle && cellCalm) {
          parkDevice(RED, def.id, { device, digest, close: closeForGood, cell }, closeTimeoutMs(RED));
          return;
        }
        await closeForGood();
      })().finally(done);
    });
  }
  RED.nodes.registerType(kind.configType, ConfigNode as unknown as (this: RedNode, def: NodeDef) => void, kind.credentials ? { credentials: kind.credentials } : undefined);

  interface ActionDef extends NodeDef {
    device: string;
  }

  const actionFields = deviceActionFields(kind.operations);

  function ActionNode(this: RedNode, def: ActionDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const fields = configure(node, actionFields, def, nodeLabel(`${kind.kind} node`, def));
    const config = RED.nodes.getNode(def.device) as DeviceConfigNode | null;
    const device = config?.device;
    if (!fields.ok || !config || !device) {
      const deviceName = config?.name || kind.kind;
      const saved = (typeof def.operation === 'string' && def.operation) || undefined;
      let refusal: WorkcellError;
      if (fields.ok) {
        const why = config?.configError;
        node.status({ fill: 'red', shape: 'ring', text: why ? shortText(why) : 'no device configured' });
        refusal = new WorkcellError('no-device', `${def.name || kind.actionType}: no ${kind.kind} device is configured for this node${why ? `: ${why}` : ''}`);
      } else {
        refusal = fields.error;
      }
      node.on('input', (msg, _s, done) => {
        failRunOf(msg, refusal, def.name || `${deviceName}: ${operationText(msg.operation ?? saved)}`);
        done(refusal);
      });
      return;
    }
    const { operation: editorOperation, params: editorParams } = fields.config;
    const display = healthDisplay(device);
    display.attach(node);
    node.on('close', () => display.detach(node));

    // Per node, not per message: the checkpoint's label, the progress sink, the step's label
    // for the editor's operation. A step is named by the node's name, so that an outcome
    // "aborted at move to B" says which of several moves on one device; unnamed, by
    // "<device>: <operation>".
    const name = fields.config.name;
    const where = `${device.name}: ${name || editorOperation || kind.kind}`;
    const onProgress = (p: Progress) => node.status({ fill: 'blue', shape: 'dot', text: shortText(p.fraction !== undefined ? `${Math.round(p.fraction * 100)}% ${p.text}` : p.text) });
    const editorStep = name || `${device.name}: ${editorOperation}`;
    const stepOf = (operation: unknown): string => (operation === editorOperation ? editorStep : name || `${device.name}: ${operationText(operation)}`);
    checkpointedInput(
      node,
      {
        cellId: config.cellId,
        label: () => where,
        step: (msg) => stepOf(msg.operation !== undefined ? msg.operation : editorOperation),
        onHeld: (held) => (held ? node.status({ fill: 'yellow', shape: 'ring', text: 'held' }) : display.release(node)),
      },
      (msg, send, ctx) => {
        const operation = msg.operation !== undefined ? msg.operation : editorOperation;
        if (typeof operation !== 'string' || operation === '') {
          throw new WorkcellError(
            'invalid-operation',
            msg.operation !== undefined
              ? `${device.name}: msg.operation must be an operation name (a string), got ${showValue(msg.operation)}`
              : `${device.name}: no operation: choose one in the editor or send msg.operation`,
            { subject: device.name, value: msg.operation },
          );
        }
        if (msg.params !== undefined && (typeof msg.params !== 'object' || msg.params === null || Array.isArray(msg.params))) {
          throw new WorkcellError('invalid-parameters', `${device.name}: ${operation}: msg.params must be an object of parameters, got ${showValue(msg.params)}`, {
            subject: device.name,
            operation,
            value: msg.params,
          });
        }
        // validateParams reads the parameters and gives the driver its own copy, so the editor's
        // object can go in as it is when the message brings none.
        const params =
          msg.operation !== undefined && msg.operation !== editorOperation
            ? { ...(msg.params as object) }
            : msg.params === undefined
              ? editorParams
              : { ...editorParams, ...(msg.params as object) };
        const runId = ctx.run?.id;
        return ctx
          .step(stepOf(operation), (signal) => {
            display.begin(node);
            return device.execute(operation, params, { signal, runId, onProgress }).finally(() => display.end(node));
          })
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
