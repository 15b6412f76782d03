import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** A running embedded broker (aedes, MQTT 3.1.1) on a TCP port of 127.0.0.1. */
export interface EmbeddedBroker {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Ends every client's connection without a goodbye (their wills go out); the broker keeps listening. */
  dropClients(): void;
  /** Stops listening, ends every client's connection (their wills go out) and closes the broker. */
  close(): Promise<void>;
}

interface AedesBroker {
  handle(socket: Socket): void;
  close(cb?: () => void): void;
  authorizeSubscribe?: (client: unknown, sub: { topic: string; qos: number }, done: (err: Error | null, sub: { topic: string; qos: number } | null) => void) => void;
}

/**
 * aedes 1.x is an ES module: it is loaded with a real dynamic `import()` (TypeScript's CommonJS
 * output would turn a literal `import()` into `require()`).
 */
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<{ Aedes: { createBroker(): Promise<AedesBroker> } }>;

/**
 * Start an aedes broker on `host` (default 127.0.0.1) and `port` (default 0, a free one);
 * `denySubscribe`, for tests, refuses the subscriptions to the topics it names. It
 * speaks MQTT 3.1.1 only: its clients use protocol version 4. For the demo and the tests; aedes is
 * a development dependency, not part of the package's runtime.
 */
export async function startEmbeddedBroker(options: { host?: string; port?: number; denySubscribe?: (topic: string) => boolean } = {}): Promise<EmbeddedBroker> {
  const { Aedes } = await importEsm('aedes');
  const broker = await Aedes.createBroker();
  // An ACL for tests: a denied subscription is refused in its SUBACK (return code 0x80).
  const deny = options.denySubscribe;
  if (deny) broker.authorizeSubscribe = (_client, sub, done) => done(null, deny(sub.topic) ? null : sub);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    dropClients() {
      for (const s of sockets) s.destroy();
    },
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((r) => server.close(() => r()));
        for (const s of sockets) s.destroy();
        await closed;
        await new Promise<void>((r) => broker.close(() => r()));
      })();
      return closing;
    },
  };
}
