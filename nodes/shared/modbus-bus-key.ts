import type { ModbusConfigNode } from './modbus-bus-node';

/** A number per bus object: the same number while a `workcell-modbus` node keeps its bus. */
const busNumbers = new WeakMap<object, number>();
let busesSeen = 0;

/**
 * What identifies the bus of the `workcell-modbus` node `id` now (a `DeviceKind.connectionKey`
 * for devices on a bus): a number that stays the same while the node keeps its bus object and
 * changes when a deploy makes a new one, or null when there is no bus. A deploy then keeps a
 * device's driver only while it is on the same bus.
 */
export function modbusBusKey(getNode: (id: string) => unknown, id: string): number | null {
  const bus = (getNode(id) as Partial<ModbusConfigNode> | null)?.bus;
  if (!bus) return null;
  let n = busNumbers.get(bus);
  if (n === undefined) busNumbers.set(bus, (n = ++busesSeen));
  return n;
}
