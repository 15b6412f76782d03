import type { ModbusBusLink } from '../../lib/io/modbus/modbus-unit';
import { WorkcellError } from '../../lib/errors/workcell-error';
import type { RedNode } from './red';

// The typed face of a `workcell-modbus` bus node (nodes/modbus.ts) for the device nodes on it,
// here beside the other shared node types so a device needs nothing from nodes/modbus.ts itself.

/** A `workcell-modbus` config node as device nodes see it (`RED.nodes.getNode(def.bus)`). */
export interface ModbusConfigNode extends RedNode {
  /** The bus; undefined when the node's configuration is invalid (then `configError` says why). */
  readonly bus: ModbusBusLink | undefined;
  /** Why the node has no bus: a sentence naming the node, the field and the value. */
  readonly configError: string | undefined;
}

/**
 * The bus of the `workcell-modbus` node `id`, for the device `deviceName`. Throws a sentence
 * naming the device when no bus node is chosen, when the id names no deployed node or a node of
 * another type, or when the bus node's own configuration is invalid (with its reason).
 */
export function modbusBusOf(getNode: (id: string) => unknown, id: string, deviceName: string): ModbusBusLink {
  if (!id) throw new WorkcellError('bad-config', `${deviceName}: no Modbus bus chosen: pick a workcell-modbus node`, { subject: deviceName });
  const found = getNode(id) as (RedNode & Partial<ModbusConfigNode>) | null;
  if (!found) throw new WorkcellError('bad-config', `${deviceName}: the Modbus bus node ${JSON.stringify(id)} does not exist (deleted, disabled, or not deployed)`, { subject: deviceName, value: id });
  if (found.type !== 'workcell-modbus') {
    throw new WorkcellError('bad-config', `${deviceName}: the node ${JSON.stringify(id)} is a ${found.type} node, not a workcell-modbus bus`, { subject: deviceName, value: id });
  }
  if (!found.bus) throw new WorkcellError('bad-config', `${deviceName}: its Modbus bus did not start: ${found.configError ?? 'no reason given'}`, { subject: deviceName, value: id });
  return found.bus;
}
