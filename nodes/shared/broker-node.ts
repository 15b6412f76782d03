import type { BrokerLink } from '../../lib/mqtt';
import type { RedAPI, RedNode } from './red';

/** A deployed `workcell-mqtt` node: its link, or why it has none (its configuration). */
export interface MqttNode extends RedNode {
  link?: BrokerLink;
  failure?: string;
}

/** The broker link of the `workcell-mqtt` node `id`; throws a sentence saying why there is none. */
export function brokerLinkOf(RED: RedAPI, id: string, who: string): BrokerLink {
  const node = RED.nodes.getNode(id) as MqttNode | null;
  if (node?.link) return node.link;
  if (!node || node.type !== 'workcell-mqtt') throw new Error(`${who}: its MQTT broker node ${id} is not deployed`);
  throw new Error(`${who}: its MQTT broker did not start: ${node.failure ?? 'unknown reason'}`);
}
