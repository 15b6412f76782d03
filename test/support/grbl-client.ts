/**
 * A line-oriented GRBL client for tests over a real TCP socket: collects every line the
 * controller sends and lets a test wait for the next one that matches.
 */
import * as net from 'node:net';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A line-oriented test client: collects every received line and lets tests wait for one. */
export class Client {
  readonly lines: string[] = [];
  private cursor = 0;
  private partial = '';
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.partial += chunk.toString('latin1');
      let i: number;
      while ((i = this.partial.indexOf('\r\n')) >= 0) {
        this.lines.push(this.partial.slice(0, i));
        this.partial = this.partial.slice(i + 2);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(port: number): Promise<Client> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return new Client(socket);
  }

  send(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Waits for the next line (after earlier matches) that satisfies `match`, and returns it. */
  async next(match: RegExp | ((line: string) => boolean), timeoutMs = 15_000): Promise<string> {
    const test = typeof match === 'function' ? match : (l: string) => match.test(l);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.lines.length) {
        const line = this.lines[this.cursor++]!;
        if (test(line)) return line;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No line matching ${String(match)} arrived; received: ${JSON.stringify(this.lines)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a line and returns its `ok` / `error:N` answer. */
  async command(line: string): Promise<string> {
    this.send(`${line}\n`);
    return this.next(isResponse);
  }

  /** Requests a status report and returns it. */
  async status(): Promise<string> {
    this.send('?');
    return this.next(/^</);
  }

  /** Marks everything received so far as seen. */
  skip(): void {
    this.cursor = this.lines.length;
  }

  close(): void {
    this.socket.destroy();
  }
}

export const isResponse = (l: string): boolean => l === 'ok' || l.startsWith('error:');
export const mpos = (report: string): number[] => /MPos:([^|>]+)/.exec(report)![1]!.split(',').map(Number);
export const stateOf = (report: string): string => report.slice(1).split('|')[0]!;

export async function waitForState(client: Client, state: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await client.status();
    if (stateOf(report) === state) return report;
    if (Date.now() > deadline) throw new Error(`State never became ${state}; last report ${report}`);
    await sleep(10);
  }
}

