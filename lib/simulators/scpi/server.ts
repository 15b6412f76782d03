import * as net from 'node:net';

/** Where a TCP listener ended up: the host it is bound to and the port the OS assigned for port 0. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * A TCP listener for a LAN instrument (raw socket, port 5025 on Keysight). Any number of clients
 * may connect at once, as on the real instruments; each socket is handed to `onSocket`, which
 * gives it its own session. The listener remembers its sockets so they can be dropped abruptly.
 */
export class TcpListener {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly onSocket: (socket: net.Socket) => void) {}

  /** Starts listening; resolves with the bound address once the port is open. */
  async listen(host: string, port: number): Promise<ListenAddress> {
    if (this.server) throw new Error('This simulator is already listening; close() it before listening again.');
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.onSocket(socket);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as net.AddressInfo;
    return { host, port: addr.port };
  }

  /** Number of clients connected right now. */
  get clientCount(): number {
    return this.sockets.size;
  }

  /** Destroys every client socket at once, as a power cut or a cable pull would; the listener stays open. */
  dropClients(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  /** Drops all clients and stops listening; resolves when the port is released. Safe to call twice. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.dropClients();
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
