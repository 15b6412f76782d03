/**
 * Emergency-stop fan-out: a cell with 1, 10 and 100 devices whose stop writes a frame to a TCP
 * listener on 127.0.0.1 (a separate native process, bench/frame-listener.c), measured from the
 * trip (`cell.estop()` called) to the last frame received by the listener, side by side with
 * two peers that put the same frames on the same kind of sockets to the same listener:
 * - the floor: one plain JavaScript loop of `socket.write()`s of the frame (Nagle off);
 * - the hand-wired Node-RED peer: a real Node-RED runtime (in this process, as Workcell's
 *   nodes are in production) with a `link in` node wired to N core `tcp out` nodes (client
 *   mode), timed from the message's injection (`receive()`) to the last frame received.
 * The four contenders (floor, Node-RED, Workcell idle, Workcell busy) take turns trip by trip,
 * in a rotating order, so load and garbage collections fall on all of them alike; ratios are
 * taken per run and their median reported. Targets: Workcell's p50 at most 1.2× the floor's;
 * all 100 frames received within 2 ms, p99 pooled over every trip.
 *
 * `idle`: no run. `busy`: a run owns every device and each has an operation in flight, so the
 * stop also has to cancel work. Every Workcell trip checks the E-stop ordering rule: every stop
 * frame is written before the cell's state event and (busy) before any in-flight operation sees
 * its cancellation; a violation fails the benchmark.
 */
import path from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { AbortContext, Run } from '../lib';
import { TcpFrameDevice, nextOrderStamp } from '../test/support/tcp-frame-device';
import { helper, loadUninstrumented, placed } from './node-red-runtime';
import { fmt, machineFacts, median, msSince, summarize, table } from './stats';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tcpNodes = require('@node-red/nodes/core/network/31-tcpin.js') as (red: unknown) => void;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const linkNodes = require('@node-red/nodes/core/common/60-link.js') as (red: unknown) => void;

export interface FanoutOptions {
  sizes?: number[];
  /** Repeated runs per size (medians are over these). */
  runs?: number;
  /** Trips per contender per run. */
  trips?: number;
  /** Trips per contender before measuring, per size. */
  warmupTrips?: number;
}

/** Who puts the stop frames on the wire. */
export type Contender = 'floor' | 'node-red' | 'workcell idle' | 'workcell busy';
export const CONTENDERS: readonly Contender[] = ['floor', 'node-red', 'workcell idle', 'workcell busy'];

export interface FanoutRow {
  devices: number;
  contender: Contender;
  trips: number;
  /** Per run: p50 and p99 of trip → last frame received, ms. */
  runP50: number[];
  runP99: number[];
  /** Over all trips of all runs, ms. */
  pooled: ReturnType<typeof summarize>;
  /** Medians over all trips, ms: trip → first frame handed to its socket, → last one, → first frame received (NaN where not measured). */
  firstWriteP50: number;
  lastWriteP50: number;
  lastWriteP99: number;
  firstFrameP50: number;
  /** Median over all trips of last frame handed to its socket → last frame received, ms (NaN where not measured). */
  afterLastWriteP50: number;
  /** Workcell only (NaN otherwise), medians over all trips, ms: trip → `estop()` returned (the synchronous part), → its stop report resolved. */
  returnedP50: number;
  reportedP50: number;
  /**
   * Paired ratios: this contender's trip ÷ the floor's (Node-RED's) trip of the same round
   * (adjacent in time, so under the same load), median over every round of every run.
   */
  pairedFloor: number;
  pairedNodeRed: number;
  /** Trips slower than 1 ms, and how many of those overlapped a garbage collection in this thread. */
  slowTrips: number;
  slowTripsWithGc: number;
}

export interface FanoutResult {
  rows: FanoutRow[];
  facts: Record<string, string>;
}

export interface Listener {
  /** Which listener: `native` (bench/frame-listener.c, a separate process) or `worker` (a JavaScript worker thread). */
  kind: 'native' | 'worker';
  port: number;
  /** Resolves with the listener's timestamps once `expect` frames of `trip` have arrived. */
  frames(trip: number, expect: number): Promise<{ first: bigint; last: bigint }>;
  close(): Promise<void>;
}

/**
 * The listener: the native one (a separate process, compiled from bench/frame-listener.c with
 * the system's C compiler on first use) unless WORKCELL_FANOUT_LISTENER=worker or no compiler
 * is there; the JavaScript worker otherwise. The native one measures the package, not the
 * listener: a JavaScript listener adds an event-loop callback per socket to the last frame's time.
 */
export async function startListener(): Promise<Listener> {
  if (process.env.WORKCELL_FANOUT_LISTENER !== 'worker') {
    const native = buildNativeListener();
    if (native) return startNativeListener(native);
  }
  return startWorkerListener();
}

function buildNativeListener(): string | undefined {
  const source = path.join(packageRoot(), 'bench', 'frame-listener.c');
  const binary = path.join(__dirname, 'frame-listener');
  if (!existsSync(source)) return undefined;
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) return binary;
  const cc = spawnSync('cc', ['-O2', '-o', binary, source], { stdio: 'inherit' });
  return cc.status === 0 ? binary : undefined;
}

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

type FrameTimes = { first: bigint; last: bigint };

/** A promise for a trip's frame times, registered in `waiting` (the listener resolves it), or a clear error after 5 s. */
function awaitFrames(waiting: Map<number, (t: FrameTimes) => void>, trip: number, expect: number): Promise<FrameTimes> {
  return new Promise<FrameTimes>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`trip ${trip}: expected ${expect} stop frames within 5 s`)), 5000);
    waiting.set(trip, (t) => {
      clearTimeout(timer);
      resolve(t);
    });
  });
}

async function startNativeListener(binary: string): Promise<Listener> {
  // In a session of its own (setsid), as a controller's software is never in the sender's: a
  // child in the benchmark's session shares its scheduling autogroup, and then waits to be
  // scheduled until the sender's thread blocks (see bench/README.md, "where the time goes").
  // It still ends with the benchmark: it exits at EOF on its stdin.
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const waiting = new Map<number, (t: { first: bigint; last: bigint }) => void>();
  let resolvePort!: (port: number) => void;
  const portP = new Promise<number>((resolve) => (resolvePort = resolve));
  let partial = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const [tag, a, b, c] = line.split(' ');
      if (tag === 'PORT') resolvePort(Number(a));
      else if (tag === 'D') {
        const trip = Number(a);
        const w = waiting.get(trip);
        waiting.delete(trip);
        w?.({ first: BigInt(b), last: BigInt(c) });
      }
    }
  });
  const port = await portP;
  return {
    kind: 'native',
    port,
    frames(trip, expect) {
      const p = awaitFrames(waiting, trip, expect);
      child.stdin.write(`T ${trip} ${expect}\n`);
      return p;
    },
    async close() {
      child.stdin.end();
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function startWorkerListener(): Promise<Listener> {
  // Under tsx (bench run from source) the worker needs the TypeScript loader too.
  const fromSource = __filename.endsWith('.ts');
  const worker = new Worker(path.join(__dirname, `frame-listener.${fromSource ? 'ts' : 'js'}`), fromSource ? { execArgv: ['--require', 'tsx/cjs'] } : {});
  const waiting = new Map<number, (t: { first: bigint; last: bigint }) => void>();
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: { port: number }) => resolve(m.port));
  });
  worker.on('message', (m: { trip: number; first: bigint; last: bigint }) => {
    const w = waiting.get(m.trip);
    waiting.delete(m.trip);
    w?.(m);
  });
  return {
    kind: 'worker',
    port,
    frames(trip, expect) {
      const p = awaitFrames(waiting, trip, expect);
      worker.postMessage({ trip, expect });
      return p;
    },
    async close() {
      worker.postMessage('close');
      await new Promise((r) => worker.once('exit', r));
    },
  };
}

interface TripSample {
  lastFrameMs: number;
  firstFrameMs: number;
  firstWriteMs: number;
  lastWriteMs: number;
  /** Workcell: trip → `estop()` returned, and → its stop report resolved (NaN for the peers). */
  returnedMs: number;
  reportedMs: number;
  /** performance.now() window of the trip, to match garbage collections. */
  window: [number, number];
}

let tripCounter = 0;

/** The frame of trip `n`, as the listener parses it. */
function frameOf(n: number): Buffer {
  return Buffer.from(`!S${n}\n`, 'latin1');
}

/** Time one trip: `fire` puts the frames on the wire (or starts to); resolves once the listener has all `expect`. */
async function timed(listener: Listener, tripNo: number, expect: number, fire: () => void): Promise<{ t0: bigint; perf0: number; frames: FrameTimes }> {
  const received = listener.frames(tripNo, expect);
  const perf0 = performance.now();
  const t0 = process.hrtime.bigint();
  fire();
  const frames = await received;
  return { t0, perf0, frames };
}

function sample(t0: bigint, perf0: number, frames: FrameTimes, firstWrite: bigint, lastWrite: bigint, returned = 0n, reported = 0n): TripSample {
  const lastFrameMs = msSince(t0, frames.last);
  const since = (t: bigint) => (t ? msSince(t0, t) : NaN);
  return {
    lastFrameMs,
    firstFrameMs: msSince(t0, frames.first),
    firstWriteMs: since(firstWrite),
    lastWriteMs: since(lastWrite),
    returnedMs: since(returned),
    reportedMs: since(reported),
    window: [perf0, perf0 + lastFrameMs],
  };
}

/** The floor: one loop of raw writes of the frame to `sockets` (Nagle off). */
async function floorTrip(sockets: net.Socket[], listener: Listener): Promise<TripSample> {
  const tripNo = ++tripCounter;
  const frame = frameOf(tripNo);
  let first = 0n;
  let last = 0n;
  const { t0, perf0, frames } = await timed(listener, tripNo, sockets.length, () => {
    sockets[0].write(frame);
    first = process.hrtime.bigint();
    for (let i = 1; i < sockets.length; i++) sockets[i].write(frame);
    last = process.hrtime.bigint();
  });
  return sample(t0, perf0, frames, first, last);
}

/** The hand-wired Node-RED peer: the frame as a message into a `link in` wired to the tcp out nodes. */
async function nodeRedTrip(entryId: string, expect: number, listener: Listener): Promise<TripSample> {
  const tripNo = ++tripCounter;
  const msg = { payload: frameOf(tripNo) };
  const entry = helper.getNode(entryId);
  const { t0, perf0, frames } = await timed(listener, tripNo, expect, () => entry.receive(msg));
  return sample(t0, perf0, frames, 0n, 0n);
}

/** Workcell: optionally start a run with an operation in flight on every device, trip, wait for every frame, check the order, reset. */
async function workcellTrip(cell: AbortContext, devices: TcpFrameDevice[], listener: Listener, busy: boolean): Promise<TripSample> {
  const tripNo = ++tripCounter;
  let run: Run | undefined;
  const inFlight: Promise<unknown>[] = [];
  if (busy) {
    run = cell.startRun({ sequence: 'bench' });
    for (const d of devices) inFlight.push(run.runStep(`${d.name}: hold`, (signal) => d.execute('hold', {}, { signal, runId: run!.id })).catch(() => undefined));
    // Let every operation reach the device (ownership, queue, perform).
    await new Promise((r) => setImmediate(r));
    for (const d of devices) if (d.status !== 'busy') throw new Error(`${d.name}: expected an operation in flight before the trip`);
  }
  const frame = frameOf(tripNo);
  for (const d of devices) d.stopFrame = frame;
  let stateOrder = 0;
  const onState = (s: { to: string }) => {
    if (s.to === 'aborting' && stateOrder === 0) stateOrder = nextOrderStamp();
  };
  cell.on('state', onState);
  const before = nextOrderStamp();

  let report: Promise<unknown> | undefined;
  let returned = 0n;
  let reported = 0n;
  const { t0, perf0, frames } = await timed(listener, tripNo, devices.length, () => {
    report = cell.estop('bench');
    returned = process.hrtime.bigint();
    report.then(() => (reported = process.hrtime.bigint()));
  });
  await report;
  cell.off('state', onState);

  let firstDev = devices[0];
  let lastDev = devices[0];
  for (const d of devices) {
    if (d.wroteOrder <= before) throw new Error(`trip ${tripNo}: ${d.name} wrote no stop frame`);
    if (d.wroteOrder < firstDev.wroteOrder) firstDev = d;
    if (d.wroteOrder > lastDev.wroteOrder) lastDev = d;
  }
  if (stateOrder === 0 || stateOrder < lastDev.wroteOrder) throw new Error(`trip ${tripNo}: the cell's state event ran before every stop frame was written`);
  if (busy) {
    await Promise.all(inFlight);
    for (const d of devices) {
      if (d.abortSeenOrder <= before) throw new Error(`trip ${tripNo}: ${d.name}'s operation never saw its cancellation`);
      if (d.abortSeenOrder < lastDev.wroteOrder) {
        throw new Error(`trip ${tripNo}: ${d.name}'s operation saw its cancellation before every stop frame was written (E-stop ordering violated)`);
      }
    }
  }
  await cell.reset('bench');
  // Times are read on the first and last device only (see TcpFrameDevice.timeWrites).
  return sample(t0, perf0, frames, firstDev.timeWrites ? firstDev.wroteAt : 0n, lastDev.timeWrites ? lastDev.wroteAt : 0n, returned, reported);
}

/** The hand-wired Node-RED flow: per size, a `link in` wired to that many core `tcp out` nodes (client mode) to the listener. */
function peerFlow(port: number, sizes: number[]): { id: string }[] {
  const nodes: object[] = [{ id: 't1', type: 'tab', label: 'hand-wired e-stop' }];
  for (const size of sizes) {
    const outs = Array.from({ length: size }, (_, i) => `tcp${size}-${i + 1}`);
    nodes.push({ id: `estop${size}`, type: 'link in', z: 't1', name: `e-stop ${size}`, links: [], wires: [outs] });
    for (const id of outs) nodes.push({ id, type: 'tcp out', z: 't1', host: '127.0.0.1', port: String(port), beserver: 'client', base64: false, end: false, tls: '', wires: [] });
  }
  return placed(nodes) as { id: string }[];
}

/** Resolves once every tcp out node of the flow is connected (they connect on their own at deploy). */
async function tcpOutsConnected(flow: { id: string }[]): Promise<void> {
  const outs = flow.filter((n) => n.id.startsWith('tcp')).map((n) => helper.getNode(n.id));
  const deadline = Date.now() + 10_000;
  while (outs.some((n) => !n.connected)) {
    if (Date.now() > deadline) throw new Error(`${outs.filter((n) => !n.connected).length} Node-RED tcp out nodes did not connect within 10 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function floorSockets(port: number, n: number): Promise<net.Socket[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
      await once(s, 'connect');
      s.setNoDelay(true);
      s.on('error', () => undefined);
      return s;
    }),
  );
}

/** Run the fan-out benchmark. */
export async function runFanout(options: FanoutOptions = {}): Promise<FanoutResult> {
  const sizes = options.sizes ?? [1, 10, 100];
  const runs = options.runs ?? 5;
  const trips = options.trips ?? 300;
  const warmupTrips = options.warmupTrips ?? 100;
  const listener = await startListener();
  const listenerKind = listener.kind === 'native' ? 'native epoll process (bench/frame-listener.c)' : 'JavaScript worker thread (bench/frame-listener.ts)';
  const flow = peerFlow(listener.port, sizes);
  await loadUninstrumented([tcpNodes, linkNodes], flow);
  const rows: FanoutRow[] = [];
  // Garbage collections of this thread, to tell a slow trip's cause (GC or scheduling).
  const gcs: [number, number][] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    await tcpOutsConnected(flow);
    for (const size of sizes) {
      const cell = new AbortContext({ name: `bench-${size}`, safeTimeoutMs: 1000, stopTimeoutMs: 1000 });
      const devices = Array.from({ length: size }, (_, i) => new TcpFrameDevice(`dev${i + 1}`));
      await Promise.all(devices.map((d) => d.connect(listener.port)));
      for (const d of devices) cell.addDevice(d);
      devices[0].timeWrites = true;
      devices[size - 1].timeWrites = true;
      const sockets = await floorSockets(listener.port, size);
      const tripOf: Record<Contender, () => Promise<TripSample>> = {
        floor: () => floorTrip(sockets, listener),
        'node-red': () => nodeRedTrip(`estop${size}`, size, listener),
        'workcell idle': () => workcellTrip(cell, devices, listener, false),
        'workcell busy': () => workcellTrip(cell, devices, listener, true),
      };
      // Take turns, trip by trip, in a rotating order: no contender always follows another.
      const round = async (t: number, each: (c: Contender, s: TripSample) => void) => {
        for (let k = 0; k < CONTENDERS.length; k++) {
          const c = CONTENDERS[(t + k) % CONTENDERS.length];
          each(c, await tripOf[c]());
        }
      };
      for (let t = 0; t < warmupTrips; t++) await round(t, () => undefined);

      const samples = new Map<Contender, TripSample[][]>(CONTENDERS.map((c) => [c, []]));
      gcs.length = 0;
      for (let r = 0; r < runs; r++) {
        for (const c of CONTENDERS) samples.get(c)!.push([]);
        for (let t = 0; t < trips; t++) await round(t, (c, s) => samples.get(c)![r].push(s));
      }
      // GC entries are delivered asynchronously: let them arrive before matching.
      await new Promise((r) => setTimeout(r, 10));
      const paired = (c: Contender, peer: Contender) =>
        median(samples.get(c)!.flatMap((run, r) => run.map((s, t) => s.lastFrameMs / samples.get(peer)![r][t].lastFrameMs)));
      for (const c of CONTENDERS) {
        const perRun = samples.get(c)!;
        const all = perRun.flat();
        const slow = all.filter((s) => s.lastFrameMs > 1);
        const lastWrite = summarize(all.map((s) => s.lastWriteMs));
        rows.push({
          devices: size,
          contender: c,
          trips,
          runP50: perRun.map((run) => summarize(run.map((s) => s.lastFrameMs)).p50),
          runP99: perRun.map((run) => summarize(run.map((s) => s.lastFrameMs)).p99),
          pooled: summarize(all.map((s) => s.lastFrameMs)),
          firstWriteP50: median(all.map((s) => s.firstWriteMs)),
          lastWriteP50: lastWrite.p50,
          lastWriteP99: lastWrite.p99,
          firstFrameP50: median(all.map((s) => s.firstFrameMs)),
          afterLastWriteP50: median(all.map((s) => s.lastFrameMs - s.lastWriteMs)),
          returnedP50: median(all.map((s) => s.returnedMs)),
          reportedP50: median(all.map((s) => s.reportedMs)),
          pairedFloor: paired(c, 'floor'),
          pairedNodeRed: paired(c, 'node-red'),
          slowTrips: slow.length,
          slowTripsWithGc: slow.filter(({ window: [a, b] }) => gcs.some(([s, e]) => s < b && e > a)).length,
        });
      }
      await Promise.all(devices.map((d) => d.close()));
      for (const s of sockets) s.destroy();
    }
  } finally {
    observer.disconnect();
    await helper.unload();
    await listener.close();
  }
  return { rows, facts: { ...machineFacts(), listener: listenerKind } };
}

const LABEL: Record<Contender, string> = {
  floor: 'floor (raw writes)',
  'node-red': 'Node-RED (link in → tcp out ×N)',
  'workcell idle': 'Workcell, idle cell',
  'workcell busy': 'Workcell, busy cell',
};

const ms = (v: number) => (Number.isFinite(v) ? `${fmt(v)} ms` : '—');

/** The result as markdown: the figures per contender and size, where the time goes, and Workcell's ratios to the two peers. */
export function fanoutTable(result: FanoutResult): string {
  const figures = table(
    ['devices', 'who', 'runs × trips', 'p50 (median of runs)', 'p99 (median of runs)', 'p99 (worst run)', 'p99 pooled', 'max pooled', 'trips > 1 ms (with a GC)', 'target: pooled p99 ≤ 2 ms'],
    result.rows.map((r) => [
      r.devices,
      LABEL[r.contender],
      `${r.runP50.length} × ${r.trips}`,
      ms(median(r.runP50)),
      ms(median(r.runP99)),
      ms(Math.max(...r.runP99)),
      ms(r.pooled.p99),
      ms(r.pooled.max),
      `${r.slowTrips} (${r.slowTripsWithGc})`,
      r.devices === 100 && r.contender.startsWith('workcell') ? (r.pooled.p99 <= 2 ? 'met' : 'MISSED (> 2 ms)') : '',
    ]),
  );
  const where = table(
    ['devices', 'who', 'trip → first write', 'trip → last write', 'trip → first frame received', 'last write → last frame received', 'trip → estop() returned', 'trip → stop report'],
    result.rows.map((r) => [r.devices, LABEL[r.contender], ms(r.firstWriteP50), ms(r.lastWriteP50), ms(r.firstFrameP50), ms(r.afterLastWriteP50), ms(r.returnedP50), ms(r.reportedP50)]),
  );
  const ratioRows: (string | number)[][] = [];
  for (const size of new Set(result.rows.map((r) => r.devices))) {
    const row = (c: Contender) => result.rows.find((r) => r.devices === size && r.contender === c)!;
    const floor = row('floor');
    const peer = row('node-red');
    for (const c of ['workcell idle', 'workcell busy'] as const) {
      const w = row(c);
      const perRun = (mine: number[], theirs: number[]) => median(mine.map((v, i) => v / theirs[i]));
      const p50Floor = perRun(w.runP50, floor.runP50);
      const x = (v: number) => `${fmt(v, 2)}×`;
      ratioRows.push([
        size,
        LABEL[c],
        x(p50Floor),
        x(w.pairedFloor),
        x(perRun(w.runP50, peer.runP50)),
        x(w.pairedNodeRed),
        x(perRun(w.runP99, floor.runP99)),
        x(perRun(w.runP99, peer.runP99)),
        `${x(w.pooled.p99 / floor.pooled.p99)} / ${x(w.pooled.p99 / peer.pooled.p99)}`,
        size === 100 ? (p50Floor <= 1.2 ? 'met' : 'MISSED (> 1.2×)') : '',
      ]);
    }
  }
  const ratios = table(
    ['devices', 'who', 'p50 ÷ floor', 'paired ÷ floor', 'p50 ÷ Node-RED', 'paired ÷ Node-RED', 'p99 ÷ floor', 'p99 ÷ Node-RED', 'pooled p99 ÷ floor / ÷ Node-RED', 'target: p50 ≤ 1.2× floor'],
    ratioRows,
  );
  return [
    figures,
    'Where the time goes (medians over all trips; a write is the frame handed to the kernel, "received" the listener\'s read):',
    where,
    "Workcell's ratios to the peers of the same run. p50 and p99: median over the runs of the per-run ratio. Paired: median over every round of Workcell's trip ÷ the peer's trip of the same round (adjacent in time).",
    ratios,
  ].join('\n\n');
}

if (require.main === module) {
  const sizes = process.argv.includes('--quick') ? { sizes: [100], runs: 3, trips: 200 } : {};
  runFanout(sizes).then(
    (result) => {
      console.log(fanoutTable(result));
      console.log(JSON.stringify(result.facts));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
