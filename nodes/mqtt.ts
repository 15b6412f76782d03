import { readFileSync } from 'node:fs';
import { BrokerLink, BrokerLinkOptions } from '../lib/mqtt';
import { configure, nodeLabel } from './shared/editor-fields';
import { MQTT_FIELDS } from './shared/node-fields';
import type { MqttNode } from './shared/broker-node';
import { NodeDef, RedAPI, RedNode, closeTimeoutMs } from './shared/red';


/** The credentials the editor keeps in Node-RED's credential store (never in the flow). */
interface MqttCredentials {
  user?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

export = function (RED: RedAPI): void {
  /**
   * `workcell-mqtt`: a broker link, one connection shared by every cell that names it (they
   * register; the connection opens with the first and closes after the last). User name,
   * password and the TLS PEM texts live in Node-RED's credential store; certificate files may be
   * named by path instead (a credential's PEM wins over a path). On close, the node waits (within
   * Node-RED's close timeout) for its users to leave and the connection to close.
   */
  function MqttNodeCtor(this: MqttNode, def: NodeDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const who = nodeLabel('MQTT broker', def);
    const configured = configure(node, MQTT_FIELDS, def, who);
    if (!configured.ok) {
      node.failure = configured.error.message;
      return;
    }
    const c = configured.config;
    const creds = (node.credentials ?? {}) as MqttCredentials;
    const options: BrokerLinkOptions = {
      url: c.broker,
      name: `MQTT broker ${c.name ? JSON.stringify(c.name) : c.broker}`,
      clientId: c.clientId || undefined,
      username: creds.user || undefined,
      password: creds.password || undefined,
      protocolVersion: c.protocol,
      keepaliveS: c.keepalive,
      backoff: { minMs: c.backoffMin, maxMs: c.backoffMax },
    };
    try {
      const pem = (text: string | undefined, path: string, what: string) => {
        if (text) return text;
        if (!path) return undefined;
        try {
          return readFileSync(path);
        } catch (err) {
          throw new Error(`${who}: cannot read the ${what} file ${JSON.stringify(path)}: ${(err as Error).message}`);
        }
      };
      const ca = pem(creds.ca, c.caPath, 'CA certificate');
      const cert = pem(creds.cert, c.certPath, 'client certificate');
      const key = pem(creds.key, c.keyPath, 'client key');
      if (ca || cert || key || /^(mqtts|wss):/.test(c.broker) || !c.rejectUnauthorized) options.tls = { ca, cert, key, rejectUnauthorized: c.rejectUnauthorized };
    } catch (err) {
      node.failure = (err as Error).message;
      node.error(node.failure);
      return;
    }
    const link = new BrokerLink(options);
    node.link = link;
    // A lost connection is a warning once; the retries that follow are logged as information.
    let up = false;
    link.on('state', (s: { state: string; detail: string }) => {
      if (s.state === 'disconnected') {
        if (up) node.warn(`${link.name}: connection lost: ${s.detail}`);
        else node.log(`${link.name}: not connected: ${s.detail}`);
        up = false;
      } else if (s.state === 'connected') {
        up = true;
        node.log(`${link.name}: connected`);
      }
    });
    node.on('close', (done: () => void) => {
      // The cells leave in their own close handlers; wait for the connection to close after them.
      const timer = setTimeout(done, Math.max(100, closeTimeoutMs(RED) - 1000));
      void link.idle().then(() => {
        clearTimeout(timer);
        done();
      });
    });
  }
  RED.nodes.registerType('workcell-mqtt', MqttNodeCtor as unknown as (this: RedNode, def: NodeDef) => void, {
    credentials: { user: { type: 'text' }, password: { type: 'password' }, ca: { type: 'password' }, cert: { type: 'password' }, key: { type: 'password' } },
  });
};
