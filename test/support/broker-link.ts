import type { BrokerLink } from '../../lib/mqtt';
import { until } from './event-order';

/**
 * Resolves once the link is connected and the broker has acknowledged every subscription: the
 * link subscribes as it connects, and mqtt.js holds each SUBSCRIBE (queued, then in `outgoing`)
 * until its SUBACK arrives, so a message published after this reaches the link's handlers.
 */
export function subscriptionsAcknowledged(link: BrokerLink): Promise<void> {
  const inside = link as unknown as { client?: { outgoing: object; _storeProcessingQueue: unknown[] } };
  return until(() => {
    const client = inside.client;
    return link.connected && client !== undefined && client._storeProcessingQueue.length === 0 && Object.keys(client.outgoing).length === 0;
  }, 'the SUBACK of the subscriptions sent with the connection');
}
