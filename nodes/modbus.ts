import { ModbusBus, type ModbusBusOptions } from '../lib/io/modbus';
import type { ConnectionStatus, SerialSettings, StatusDetail } from '../lib/io';
import { configure, nodeLabel } from './shared/editor-fields';
import { MODBUS_FIELDS } from './shared/modbus-fields';
import type { ModbusConfigNode } from './shared/modbus-bus-node';
import { hookStopping, stoppingForDeploy } from './shared/flows-stopping';
import { adoptBus, configDigest, parkBus } from './shared/parked-devices';
import { closeTimeoutMs, type NodeDef, type RedAPI, type RedNode } from './shared/red';
import type { SerialConfigNode } from './shared/serial-connection';

type MutableModbusNode = RedNode & { -readonly [K in 'bus' | 'configError']: ModbusConfigNode[K] };

/**
 * The `workcell-modbus` config node: one Modbus bus (a Modbus TCP connection, or an RTU line on a
 * serial port, directly or through a `workcell-serial` node it claims), shared by the Modbus
 * device nodes that name it. It holds the `ModbusBus` as `node.bus` (the devices acquire it: the
 * first connects it) and closes it when the node closes, once the devices on it have let it go
 * (they stop and make themselves safe over it as they close). It shows no status of its own: the
 * devices on it show the bus's state.
 *
 * A deploy that restarts the node with the same configuration keeps the bus (it is parked while
 * the flows restart and adopted by the new node), so the devices on it keep their connection
 * too; a changed configuration closes the old bus before the new one connects.
 */
function modbusNodes(RED: RedAPI): void {
  function ModbusNode(this: MutableModbusNode, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    hookStopping(RED);
    const node = this;
    const who = nodeLabel('Modbus bus', def);
    node.bus = undefined;
    node.configError = undefined;
    const configured = configure(node, MODBUS_FIELDS, def, who);
    if (!configured.ok) {
      node.configError = configured.error.message;
      return;
    }
    const config = configured.config;
    let serial: SerialConfigNode | undefined;
    let bus: ModbusBus;
    let digest = '';
    try {
      let address = config.address;
      let line: SerialSettings = { baudRate: config.baudRate, parity: config.parity, stopBits: config.stopBits, dataBits: 8 };
      if (config.serial) {
        serial = claimSerial(config.serial, def.id, who);
        address = serial.settings.address;
        line = { ...serial.settings.serial };
      } else if (!address) {
        throw new Error(`${who}: no address: set tcp://host:port or a serial device path, or choose a serial connection`);
      }
      const options: ModbusBusOptions = {
        // A serial connection node is a serial line, even through a serial server's TCP port: RTU.
        framing: config.framing !== 'auto' ? config.framing : serial ? 'rtu' : undefined,
        timeoutMs: config.timeout,
        maxInFlight: config.maxInFlight,
        serial: line,
        reconnect: { minMs: config.backoffMin, maxMs: config.backoffMax },
      };
      digest = configDigest({ type: 'workcell-modbus', address, options });
      const adopted = adoptBus(def.id, digest);
      bus = (adopted.bus as ModbusBus | undefined) ?? new ModbusBus(address, options);
    } catch (err) {
      serial?.release({ id: def.id, name: who });
      const message = (err as Error).message;
      node.configError = message.startsWith(who) ? message : `${who}: ${message}`;
      node.error(node.configError);
      return;
    }
    node.bus = bus;
    let lastReason: string | undefined;
    const onStatus = (status: ConnectionStatus, detail: StatusDetail): void => {
      if (status === 'connected') {
        lastReason = undefined;
        node.log(`${bus.label}: connected`);
      } else if (detail.reason && detail.reason !== lastReason && (status === 'reconnecting' || status === 'disconnected')) {
        // Each distinct reason once, not every retry.
        lastReason = detail.reason;
        node.warn(`${bus.label}: ${detail.reason}`);
      }
    };
    bus.on('status', onStatus);

    node.on('close', (removed: boolean, done: () => void) => {
      bus.off('status', onStatus);
      serial?.release({ id: def.id, name: who });
      if (!removed && stoppingForDeploy()) {
        // The flows restart: the node that replaces this one takes the bus if nothing changed.
        parkBus(RED, def.id, { bus, digest, close: () => bus.close() }, closeTimeoutMs(RED));
        done();
        return;
      }
      // The devices on the bus close too, bringing themselves safe first: the bus stays up
      // until the last of them has let it go (or until just before Node-RED gives up on close).
      bus.closeWhenReleased(Math.max(100, closeTimeoutMs(RED) - 1000)).then(
        () => done(),
        (error: unknown) => { node.error(error); done(); },
      );
    });
  }

  /** The `workcell-serial` node `id`, claimed for this bus (it needs the line to itself). */
  function claimSerial(id: string, busId: string, who: string): SerialConfigNode {
    const found = RED.nodes.getNode(id) as (RedNode & Partial<SerialConfigNode>) | null;
    if (!found) throw new Error(`${who}: the serial connection node ${JSON.stringify(id)} does not exist (deleted, disabled, or not deployed)`);
    if (found.type !== 'workcell-serial' || typeof found.claim !== 'function') {
      throw new Error(`${who}: the node ${JSON.stringify(id)} is a ${found.type} node, not a workcell-serial connection`);
    }
    // A connection node whose own configuration is invalid, or that another device uses, refuses, saying why.
    found.claim({ id: busId, name: who });
    return found as SerialConfigNode;
  }

  RED.nodes.registerType('workcell-modbus', ModbusNode as never);
}

export = modbusNodes;
