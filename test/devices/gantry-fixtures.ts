import * as net from 'node:net';
import { GrblGantry, type GrblGantryOptions } from '../../lib/devices/gantry';
import { GrblSimulator, type GrblSimulatorOptions } from '../../lib/simulators/grbl';

/** The simulator's travel: GRBL's convention, home at the top (0), space negative. */
export const TRAVEL = { x: { min: -300, max: 0 }, y: { min: -300, max: 0 }, z: { min: -100, max: 0 } };
/** The driver's soft limits: a little inside the machine's travel. */
export const LIMITS = { x: { min: -290, max: 0 }, y: { min: -290, max: 0 }, z: { min: -90, max: 0 } };

import { owedStopAcknowledged, waitForStatus } from '../support/device-health';
export { owedStopAcknowledged, waitForStatus };

import { until } from '../support/event-order';
export { until };

/** A simulator with homing and the travel above, 10× machine time, listening on TCP port 0; records the lines it received. */
export async function startSim(options: GrblSimulatorOptions = {}): Promise<{ sim: GrblSimulator; address: string; lines: string[] }> {
  const sim = new GrblSimulator({ timeScale: 10, softLimits: TRAVEL, ...options });
  const lines: string[] = [];
  sim.on('line', (l: string) => lines.push(l));
  const { port } = await sim.listen({ port: 0 });
  return { sim, address: `tcp://127.0.0.1:${port}`, lines };
}

/** A driver opened and ready (fast reconnection, fast polling for the tests). */
export async function readyGantry(options: GrblGantryOptions): Promise<GrblGantry> {
  const device = new GrblGantry({ reconnect: { minMs: 20, maxMs: 100 }, pollIntervalMs: 50, softLimits: LIMITS, ...options });
  const ready = waitForStatus(device, 'ready');
  await device.open();
  await ready;
  return device;
}

/** A TCP relay between the driver and the simulator, standing for the wire (see `startRelay`). */
export interface Relay {
  address: string;
  /** Put bytes on the way to the driver, as line noise would. */
  inject(bytes: string | Buffer): void;
  /**
   * What crossed the relay, in the order it did: `GRBL: <line>` for each line to the driver,
   * `driver: <name>` for each real-time byte to GRBL (`!`, `~`, `reset`, …; `?` left out).
   */
  readonly timeline: string[];
  /** While true, every soft reset byte (0x18) on its way to GRBL is lost. */
  dropResets: boolean;
  /** Lose the `n`-th `ok` on its way to the driver from now on (1 = the next one). */
  dropOk(n: number): void;
  close(): Promise<void>;
}

/**
 * A TCP relay between the driver and the simulator that stands for the wire: it can put extra
 * bytes on the way to the driver, lose an `ok` or the soft resets, as line noise would (the
 * simulator itself only sends what GRBL sends), and it records what crossed it, in order.
 */
export async function startRelay(target: string): Promise<Relay> {
  const [, host, port] = /^tcp:\/\/(.*):(\d+)$/.exec(target)!;
  let toDriver: net.Socket | undefined;
  const sockets = new Set<net.Socket>();
  let okToDrop = 0;
  const relay: Relay = {
    address: '',
    inject: (bytes) => toDriver?.write(bytes),
    timeline: [],
    dropResets: false,
    dropOk: (n) => (okToDrop = n),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), host);
    toDriver = client;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (chunk: Buffer) => {
      const kept: number[] = [];
      for (const byte of chunk) {
        const name = realtimeToken(byte);
        if (name && name !== '?') relay.timeline.push(`driver: ${name}`);
        if (byte === 0x18 && relay.dropResets) continue;
        kept.push(byte);
      }
      if (kept.length) upstream.write(Buffer.from(kept));
    });
    let partial = '';
    upstream.on('data', (chunk: Buffer) => {
      partial += chunk.toString('latin1');
      let out = '';
      for (let end = partial.indexOf('\n'); end >= 0; end = partial.indexOf('\n')) {
        const line = partial.slice(0, end + 1);
        partial = partial.slice(end + 1);
        const text = line.trim();
        if (text === '') {
          out += line;
          continue;
        }
        relay.timeline.push(`GRBL: ${text}`);
        if (text === 'ok' && okToDrop > 0 && --okToDrop === 0) {
          relay.timeline.push('(lost on the wire)');
          continue;
        }
        out += line;
      }
      if (out) client.write(Buffer.from(out, 'latin1'));
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  relay.address = `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return relay;
}

/** A program of `n` straight segments of `step` mm along X from `x0` (machine = work coordinates here), at `feed`. */
export function segments(n: number, x0: number, step: number, feed: number, y = -10): string {
  const out = [`G90 G1 F${feed}`];
  for (let i = 1; i <= n; i++) out.push(`G1 X${(x0 + i * step).toFixed(3)} Y${y}`);
  return out.join('\n');
}

/** GRBL's real-time bytes by a short name. */
export const REALTIME_NAMES: Record<number, string> = { 0x21: '!', 0x7e: '~', 0x18: 'reset', 0x85: 'jog-cancel', 0x3f: '?' };

/**
 * What the driver wrote on each connection, from the simulator's `'attach'` and `'received'`
 * events: one array of chunks per connection, oldest first.
 */
export function transcript(sim: GrblSimulator): Buffer[][] {
  const connections: Buffer[][] = [];
  sim.on('attach', () => connections.push([]));
  sim.on('received', (bytes: Buffer) => connections.at(-1)?.push(bytes));
  return connections;
}

/** A real-time byte's token: its short name, or its hex code (`0x91`) for the others from 0x80 up. */
function realtimeToken(byte: number): string | undefined {
  return REALTIME_NAMES[byte] ?? (byte >= 0x80 ? `0x${byte.toString(16)}` : undefined);
}

/** Whether a token from `tokens` is a real-time byte (`?`, `!`, `~`, 0x18 and everything from 0x80), not a line. */
export function isRealtimeToken(token: string): boolean {
  return Object.values(REALTIME_NAMES).includes(token) || /^0x[89a-f][0-9a-f]$/.test(token);
}

/**
 * A connection's bytes as tokens: real-time bytes (picked out of lines, as GRBL does) by name,
 * lines as text.
 */
export function tokens(chunks: Buffer[]): string[] {
  const out: string[] = [];
  let line = '';
  for (const byte of Buffer.concat(chunks)) {
    const name = realtimeToken(byte);
    if (name) out.push(name);
    else if (byte === 0x0a) {
      out.push(line);
      line = '';
    } else line += String.fromCharCode(byte);
  }
  return out;
}
