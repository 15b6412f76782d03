/**
 * Modbus polling benchmark: 16 units, each polled for one block of 4 holding registers, on one
 * Modbus TCP server (bench/modbus-responder, a process of its own that answers in the same
 * tick), in a closed loop: each unit keeps a fixed number of requests outstanding and makes the
 * next one as each reply arrives. Each request reads another address (cycling 0–99), and the
 * responder's values name the unit and the address, so a reply handed to the wrong request is
 * counted as mismatched. Contenders, in a rotating order, round after round:
 * - raw: the server's limit, a minimal client on `net` that pipelines requests with no
 *   bookkeeping beyond a send time per transaction id;
 * - Workcell: `ModbusBus` (the package's bus) with `maxInFlight` 64, each unit keeping 4
 *   requests outstanding (all on the wire), and again at contrib-modbus's 16 per unit (256
 *   outstanding: 64 on the wire, the rest queued in the bus, whose wait counts in the latency);
 * - node-red-contrib-modbus 5.60.2 in an in-process Node-RED: one `modbus-flex-getter` on one
 *   `modbus-client`, queue off and 16 requests in flight per unit (its best configuration
 *   measured before), and its default (queue on).
 * Each contender's figure is the median over the rounds; tx/s and p99 are also given as a
 * fraction of the raw client's from the same round.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';
import path from 'node:path';
import { ModbusBus } from '../lib/io/modbus';
import { registerValue } from './modbus-responder';
import { helper, loadUninstrumented, placed } from './node-red-runtime';
import { fmt, machineFacts, median, percentile, table } from './stats';

const UNITS = 16;
const REGISTERS = 4;
const ADDRESSES = 100;

export interface PollOptions {
  rounds?: number;
  /** Measured time per contender per round, ms. */
  durationMs?: number;
  /** Unmeasured time before it, ms. */
  warmupMs?: number;
  /** Workcell: requests each unit keeps outstanding, and the bus's maxInFlight. */
  ourDepth?: number;
  ourMaxInFlight?: number;
  /** node-red-contrib-modbus and the raw client: requests each unit keeps outstanding. */
  theirDepth?: number;
}

export interface RunFigures {
  tx: number;
  txPerS: number;
  p50: number;
  p99: number;
  mismatched: number;
  lost: number;
}

export interface PollResult {
  options: Required<PollOptions>;
  /** Figures per contender, one per round. */
  runs: Record<string, RunFigures[]>;
}

/** The register values a reply to a read of `unit` at `address` must carry. */
function matches(values: readonly number[] | undefined, unit: number, address: number): boolean {
  if (!Array.isArray(values) || values.length !== REGISTERS) return false;
  for (let i = 0; i < REGISTERS; i++) if (values[i] !== registerValue(unit, address + i)) return false;
  return true;
}

/** The responder process (bench/modbus-responder): its port, and a tap on the write requests it receives. */
export interface Responder {
  port: number;
  /**
   * Resolves once the responder counts write requests (FC 5, 6, 15, 16) from zero, with a
   * promise of when the first and the `writes`-th arrived (process.hrtime.bigint(), ns).
   */
  arm(writes: number): Promise<{ received: Promise<{ first: bigint; last: bigint }> }>;
  close(): void;
}

/** Starts the responder in a process of its own. */
export async function startResponder(): Promise<Responder> {
  const fromSource = __filename.endsWith('.ts');
  const child: ChildProcess = fork(path.join(__dirname, `modbus-responder.${fromSource ? 'ts' : 'js'}`), [], {
    execArgv: fromSource ? ['--require', 'tsx/cjs'] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const armed = new Map<number, () => void>();
  const received = new Map<number, (r: { first: bigint; last: bigint }) => void>();
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the Modbus responder exited (${code}) before listening`)));
    child.on('message', (m: { type: string; port: number; id: number; first: string; last: string }) => {
      if (m.type === 'port') resolve(m.port);
      else if (m.type === 'armed') armed.get(m.id)?.();
      else if (m.type === 'writes') received.get(m.id)?.({ first: BigInt(m.first), last: BigInt(m.last) });
    });
  });
  child.removeAllListeners('exit');
  let nextId = 0;
  return {
    port,
    async arm(writes) {
      const id = nextId++;
      const got = new Promise<{ first: bigint; last: bigint }>((resolve) => received.set(id, (r) => { received.delete(id); resolve(r); }));
      const ready = new Promise<void>((resolve) => armed.set(id, () => { armed.delete(id); resolve(); }));
      child.send({ type: 'arm', id, writes });
      await ready;
      return { received: got };
    },
    close: () => { child.send({ type: 'close' }); },
  };
}

/** A measuring window: latencies and counts of the requests started inside it. */
class Window {
  readonly latencies: number[] = [];
  mismatched = 0;
  lost = 0;
  start = Infinity;
  end = Infinity;

  inside(t: number): boolean {
    return t >= this.start && t < this.end;
  }

  figures(): RunFigures {
    const seconds = (this.end - this.start) / 1000;
    return {
      tx: this.latencies.length,
      txPerS: this.latencies.length / seconds,
      p50: percentile(this.latencies, 50),
      p99: percentile(this.latencies, 99),
      mismatched: this.mismatched,
      lost: this.lost,
    };
  }
}

/**
 * Polls in a closed loop through `poll` (`depth` chains per unit) for warm-up + duration; a
 * request counts when it started inside the measured window. Ends once every chain stopped.
 */
async function closedLoop(poll: (unit: number, address: number) => Promise<readonly number[] | undefined>, depth: number, options: Required<PollOptions>): Promise<RunFigures> {
  const window = new Window();
  let running = true;
  const chain = async (unit: number, lane: number): Promise<void> => {
    let address = (lane * 7) % ADDRESSES;
    while (running) {
      const started = performance.now();
      let values: readonly number[] | undefined;
      let failed = false;
      try {
        values = await poll(unit, address);
      } catch {
        failed = true;
      }
      const ended = performance.now();
      if (window.inside(started)) {
        if (failed) window.lost++;
        else if (!matches(values, unit, address)) window.mismatched++;
        else window.latencies.push(ended - started);
      }
      address = (address + 1) % ADDRESSES;
    }
  };
  const t0 = performance.now();
  window.start = t0 + options.warmupMs;
  window.end = window.start + options.durationMs;
  const chains: Promise<void>[] = [];
  for (let unit = 1; unit <= UNITS; unit++) for (let lane = 0; lane < depth; lane++) chains.push(chain(unit, lane));
  await new Promise((resolve) => setTimeout(resolve, options.warmupMs + options.durationMs));
  running = false;
  await Promise.all(chains);
  return window.figures();
}

/** The server's limit: a raw pipelining client, `depth` requests outstanding per unit. */
async function runRaw(port: number, depth: number, options: Required<PollOptions>): Promise<RunFigures> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const window = new Window();
  const sentAt = new Float64Array(65536);
  const address = new Uint16Array(65536);
  const unitOf = new Uint8Array(65536);
  let nextTid = 0;
  let running = true;
  let outstanding = 0;
  const frame = (out: Buffer, at: number, unit: number, a: number): void => {
    const tid = nextTid;
    nextTid = (nextTid + 1) & 0xffff;
    out.writeUInt16BE(tid, at);
    out.writeUInt16BE(0, at + 2);
    out.writeUInt16BE(6, at + 4);
    out[at + 6] = unit;
    out[at + 7] = 3;
    out.writeUInt16BE(a, at + 8);
    out.writeUInt16BE(REGISTERS, at + 10);
    sentAt[tid] = performance.now();
    address[tid] = a;
    unitOf[tid] = unit;
    outstanding++;
  };
  let partial: Buffer | undefined;
  const drained = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      const bytes = partial ? Buffer.concat([partial, chunk]) : chunk;
      partial = undefined;
      const now = performance.now();
      let at = 0;
      let sends = 0;
      const out = Buffer.allocUnsafe(12 * Math.ceil(bytes.length / 15));
      while (bytes.length - at >= 7) {
        const end = at + 6 + bytes.readUInt16BE(at + 4);
        if (end > bytes.length) break;
        const tid = bytes.readUInt16BE(at);
        outstanding--;
        const unit = unitOf[tid];
        const a = address[tid];
        if (window.inside(sentAt[tid])) {
          let ok = bytes[at + 7] === 3 && bytes[at + 6] === unit;
          for (let i = 0; ok && i < REGISTERS; i++) ok = bytes.readUInt16BE(at + 9 + 2 * i) === registerValue(unit, a + i);
          if (ok) window.latencies.push(now - sentAt[tid]);
          else window.mismatched++;
        }
        if (running) frame(out, 12 * sends++, unit, (a + 1) % ADDRESSES);
        at = end;
      }
      if (at < bytes.length) partial = Buffer.from(bytes.subarray(at));
      if (sends) socket.write(out.subarray(0, 12 * sends));
      if (!running && outstanding === 0) resolve();
    });
  });
  const t0 = performance.now();
  window.start = t0 + options.warmupMs;
  window.end = window.start + options.durationMs;
  const first = Buffer.allocUnsafe(12 * UNITS * depth);
  let n = 0;
  for (let unit = 1; unit <= UNITS; unit++) for (let lane = 0; lane < depth; lane++) frame(first, 12 * n++, unit, (lane * 7) % ADDRESSES);
  socket.write(first);
  await new Promise((resolve) => setTimeout(resolve, options.warmupMs + options.durationMs));
  running = false;
  await drained;
  socket.destroy();
  return window.figures();
}

/** Workcell's ModbusBus. */
async function runOurs(port: number, depth: number, options: Required<PollOptions>): Promise<RunFigures> {
  const bus = new ModbusBus(`tcp://127.0.0.1:${port}`, { maxInFlight: options.ourMaxInFlight, timeoutMs: 2000 });
  const release = bus.acquire();
  await new Promise<void>((resolve) => bus.on('up', () => resolve()));
  const units = Array.from({ length: UNITS + 1 }, (_, id) => (id === 0 ? undefined : bus.unit(id)));
  const figures = await closedLoop((unit, address) => units[unit]!.readHoldingRegisters(address, REGISTERS), depth, options);
  await release();
  return figures;
}

/** node-red-contrib-modbus: one flex-getter on one client, `queue` on or off. */
async function runContrib(port: number, queue: boolean, options: Required<PollOptions>): Promise<RunFigures> {
  const clientNodes = require('node-red-contrib-modbus/modbus/modbus-client.js') as (red: unknown) => void;
  const getterNodes = require('node-red-contrib-modbus/modbus/modbus-flex-getter.js') as (red: unknown) => void;
  const catchNode = require('@node-red/nodes/core/common/25-catch.js') as (red: unknown) => void;
  const flow = placed([
    { id: 't1', type: 'tab' },
    {
      id: 'client', type: 'modbus-client', name: 'bench', clienttype: 'tcp', bufferCommands: queue, parallelUnitIdsAllowed: true,
      tcpHost: '127.0.0.1', tcpPort: String(port), tcpType: 'DEFAULT', unit_id: '1', commandDelay: '1', clientTimeout: '1000',
      reconnectOnTimeout: true, reconnectTimeout: '2000', maxQueueDepth: '100', showErrors: false, showWarnings: false, showLogs: false,
    },
    {
      id: 'getter', type: 'modbus-flex-getter', z: 't1', server: 'client', showStatusActivities: false, showErrors: false, showWarnings: false,
      logIOActivities: false, useIOFile: false, useIOForPayload: false, emptyMsgOnFail: false, keepMsgProperties: true, delayOnStart: false,
      wires: [['sink'], []],
    },
    { id: 'sink', type: 'helper', z: 't1' },
    { id: 'catcher', type: 'catch', z: 't1', scope: ['getter'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 't1' },
  ]) as { id: string }[];
  await loadUninstrumented([clientNodes, getterNodes, catchNode], flow);
  const client = helper.getNode('client') as unknown as { on(e: string, f: () => void): void; isActive(): boolean };
  if (!client.isActive()) await new Promise<void>((resolve) => client.on('mbactive', () => resolve()));
  const getter = helper.getNode('getter');
  const pending = new Map<number, { resolve(v: readonly number[]): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  const settle = (msg: { seq?: number; payload?: unknown; error?: unknown }, error: boolean) => {
    const p = msg.seq === undefined ? undefined : pending.get(msg.seq);
    if (!p) return;
    pending.delete(msg.seq!);
    clearTimeout(p.timer);
    if (error) p.reject(new Error('failed'));
    else p.resolve(msg.payload as number[]);
  };
  helper.getNode('sink').on('input', (msg: { seq?: number; payload?: unknown }) => settle(msg, false));
  helper.getNode('caught').on('input', (msg: { seq?: number }) => settle(msg, true));
  let seq = 0;
  const poll = (unit: number, address: number) => new Promise<readonly number[]>((resolve, reject) => {
    const id = seq++;
    // Nothing back within 3 s: lost.
    const timer = setTimeout(() => { pending.delete(id); reject(new Error('lost')); }, 3000);
    pending.set(id, { resolve, reject, timer });
    getter.receive({ seq: id, payload: { unitid: unit, fc: 3, address, quantity: REGISTERS } });
  });
  try {
    return await closedLoop(poll, options.theirDepth, options);
  } finally {
    await helper.unload();
  }
}

const CONTENDERS = ['raw', 'workcell', 'workcell-deep', 'contrib-queue-off', 'contrib-queue-on'] as const;

export async function runPoll(options: PollOptions = {}): Promise<PollResult> {
  const o: Required<PollOptions> = {
    rounds: 3, durationMs: 2000, warmupMs: 500, ourDepth: 4, ourMaxInFlight: 64, theirDepth: 16, ...options,
  };
  const responder = await startResponder();
  const runs: Record<string, RunFigures[]> = Object.fromEntries(CONTENDERS.map((c) => [c, []]));
  try {
    for (let round = 0; round < o.rounds; round++) {
      // A rotating order: no contender always follows another.
      const order = CONTENDERS.map((_, i) => CONTENDERS[(i + round) % CONTENDERS.length]);
      for (const contender of order) {
        const figures = contender === 'raw' ? await runRaw(responder.port, o.theirDepth, o)
          : contender === 'workcell' ? await runOurs(responder.port, o.ourDepth, o)
            : contender === 'workcell-deep' ? await runOurs(responder.port, o.theirDepth, o)
            : await runContrib(responder.port, contender === 'contrib-queue-on', o);
        runs[contender].push(figures);
      }
    }
  } finally {
    responder.close();
  }
  return { options: o, runs };
}

export function pollTable(result: PollResult): string {
  const raw = result.runs.raw;
  const o = result.options;
  const label: Record<string, string> = {
    raw: `server limit (raw pipelining client, ${o.theirDepth}/unit)`,
    workcell: `Workcell ModbusBus (maxInFlight ${o.ourMaxInFlight}, ${o.ourDepth}/unit)`,
    'workcell-deep': `Workcell ModbusBus (maxInFlight ${o.ourMaxInFlight}, ${o.theirDepth}/unit, queued in the bus)`,
    'contrib-queue-off': `node-red-contrib-modbus, queue off (${o.theirDepth}/unit)`,
    'contrib-queue-on': `node-red-contrib-modbus, queue on (default, ${o.theirDepth}/unit)`,
  };
  const rows = CONTENDERS.map((c) => {
    const runs = result.runs[c];
    const rate = median(runs.map((r) => r.txPerS));
    const p50 = median(runs.map((r) => r.p50));
    const p99 = median(runs.map((r) => r.p99));
    const rateShare = median(runs.map((r, i) => r.txPerS / raw[i].txPerS));
    const p99Ratio = median(runs.map((r, i) => r.p99 / raw[i].p99));
    return [label[c], fmt(rate / 1000, 1), fmt(rateShare, 2), fmt(p50, 2), fmt(p99, 2), fmt(p99Ratio, 1), runs.reduce((s, r) => s + r.mismatched, 0), runs.reduce((s, r) => s + r.lost, 0)];
  });
  const ours = result.runs.workcell;
  const best = result.runs['contrib-queue-off'];
  const verdicts = ours.map((r, i) => r.txPerS >= best[i].txPerS && r.p99 <= best[i].p99 / 2 && r.mismatched === 0 && r.lost === 0);
  const target = `target (per round: Workcell tx/s ≥ contrib queue off, p99 ≤ half of its p99, nothing mismatched or lost): ${verdicts.map((v) => (v ? 'met' : 'MISSED')).join(', ')}`;
  return `${table(['contender', 'k tx/s', '× server', 'p50 ms', 'p99 ms', 'p99 × server', 'mismatched', 'lost'], rows)}\n\n${o.rounds} rounds × ${o.durationMs / 1000} s measured per contender (after ${o.warmupMs / 1000} s warm-up), medians over rounds; ${UNITS} units × ${REGISTERS} holding registers.\n${target}`;
}

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  const depth = process.argv.find((a) => a.startsWith('--depth='));
  const inflight = process.argv.find((a) => a.startsWith('--max-in-flight='));
  const options: PollOptions = quick ? { rounds: 1, durationMs: 1000, warmupMs: 300 } : {};
  if (depth) options.ourDepth = Number(depth.split('=')[1]);
  if (inflight) options.ourMaxInFlight = Number(inflight.split('=')[1]);
  runPoll(options).then(
    (result) => {
      console.log(Object.entries(machineFacts()).map(([k, v]) => `- ${k}: ${v}`).join('\n'));
      console.log(`\n${pollTable(result)}`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
