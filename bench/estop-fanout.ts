/**
 * Emergency-stop fan-out: a cell with 1, 10 and 100 devices whose `stop()` writes a frame to a
 * TCP listener on 127.0.0.1 (a worker thread: its own event loop, like a separate controller).
 * Measured from the trip (`cell.estop()` called) to the last frame received by the listener.
 * Target: all 100 frames received within 2 ms, p99 over repeated trips.
 *
 * Two cell states per size: `idle` (no run) and `busy` (a run owns every device and each has an
 * operation in flight, so the stop also has to cancel work). The busy case also checks the
 * E-stop ordering rule: every stop frame is written before any in-flight operation sees its
 * cancellation and before the cell's state event; a violation fails the benchmark.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { AbortContext, Run } from '../lib';
import { TcpFrameDevice } from '../test/support/tcp-frame-device';
import { fmt, machineFacts, median, msSince, summarize, table } from './stats';

export interface FanoutOptions {
  sizes?: number[];
  /** Repeated runs per size and mode (medians are over these). */
  runs?: number;
  /** Trips per run. */
  trips?: number;
  warmupTrips?: number;
}

export interface FanoutRow {
  devices: number;
  mode: 'idle' | 'busy';
  trips: number;
  /** Per run: p50 and p99 of trip → last frame received, ms. */
  runP50: number[];
  runP99: number[];
  /** Over all trips of all runs, ms. */
  pooled: ReturnType<typeof summarize>;
  /** Median of trip → last frame handed to its socket (the synchronous pass), ms. */
  writePassP50: number;
  writePassP99: number;
  /** Trips slower than 1 ms, and how many of those overlapped a garbage collection in this thread. */
  slowTrips: number;
  slowTripsWithGc: number;
}

export interface FanoutResult {
  rows: FanoutRow[];
  facts: Record<string, string>;
}

interface Listener {
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
async function startListener(): Promise<Listener> {
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
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
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

let tripCounter = 0;

/** One trip: optionally start a run with an operation in flight on every device, trip, wait for every frame, reset. */
async function trip(cell: AbortContext, devices: TcpFrameDevice[], listener: Listener, busy: boolean): Promise<{ lastFrameMs: number; writePassMs: number; window: [number, number] }> {
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
  for (const d of devices) d.frame = () => `!S${tripNo}\n`;
  let stateAt = 0n;
  const onState = (s: { to: string }) => {
    if (s.to === 'aborting' && stateAt === 0n) stateAt = process.hrtime.bigint();
  };
  cell.on('state', onState);
  const received = listener.frames(tripNo, devices.length);

  const perf0 = performance.now();
  const t0 = process.hrtime.bigint();
  const report = cell.estop('bench');
  const frames = await received;
  await report;
  cell.off('state', onState);

  let lastWrite = 0n;
  for (const d of devices) if (d.wroteAt > lastWrite) lastWrite = d.wroteAt;
  if (stateAt !== 0n && lastWrite > stateAt) throw new Error(`trip ${tripNo}: the cell's state event ran before every stop frame was written`);
  if (busy) {
    await Promise.all(inFlight);
    for (const d of devices) {
      if (d.abortSeenAt !== 0n && d.abortSeenAt < lastWrite) {
        throw new Error(`trip ${tripNo}: ${d.name}'s operation saw its cancellation before every stop frame was written (E-stop ordering violated)`);
      }
      d.abortSeenAt = 0n;
    }
  }
  await cell.reset('bench');
  const lastFrameMs = msSince(t0, frames.last);
  return { lastFrameMs, writePassMs: msSince(t0, lastWrite), window: [perf0, perf0 + lastFrameMs] };
}

/** Run the fan-out benchmark. */
export async function runFanout(options: FanoutOptions = {}): Promise<FanoutResult> {
  const sizes = options.sizes ?? [1, 10, 100];
  const runs = options.runs ?? 5;
  const trips = options.trips ?? 300;
  const warmupTrips = options.warmupTrips ?? 100;
  const listener = await startListener();
  const listenerKind = listener.kind === 'native' ? 'native epoll process (bench/frame-listener.c)' : 'JavaScript worker thread (bench/frame-listener.ts)';
  const rows: FanoutRow[] = [];
  // Garbage collections of this thread, to tell a slow trip's cause (GC or scheduling).
  const gcs: [number, number][] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    for (const size of sizes) {
      const cell = new AbortContext({ name: `bench-${size}`, safeTimeoutMs: 1000, stopTimeoutMs: 1000 });
      const devices = Array.from({ length: size }, (_, i) => new TcpFrameDevice(`dev${i + 1}`));
      await Promise.all(devices.map((d) => d.connect(listener.port)));
      for (const d of devices) cell.addDevice(d);
      for (let i = 0; i < warmupTrips; i++) await trip(cell, devices, listener, i % 2 === 1);
      for (const mode of ['idle', 'busy'] as const) {
        const runP50: number[] = [];
        const runP99: number[] = [];
        const all: number[] = [];
        const writes: number[] = [];
        let slowTrips = 0;
        let slowTripsWithGc = 0;
        gcs.length = 0;
        const slowWindows: [number, number][] = [];
        for (let r = 0; r < runs; r++) {
          const lat: number[] = [];
          for (let t = 0; t < trips; t++) {
            const { lastFrameMs, writePassMs, window } = await trip(cell, devices, listener, mode === 'busy');
            if (lastFrameMs > 1) slowWindows.push(window);
            lat.push(lastFrameMs);
            writes.push(writePassMs);
          }
          const s = summarize(lat);
          runP50.push(s.p50);
          runP99.push(s.p99);
          all.push(...lat);
        }
        // GC entries are delivered asynchronously: let them arrive before matching.
        await new Promise((r) => setTimeout(r, 10));
        slowTrips = slowWindows.length;
        slowTripsWithGc = slowWindows.filter(([a, b]) => gcs.some(([s, e]) => s < b && e > a)).length;
        const w = summarize(writes);
        rows.push({ devices: size, mode, trips, runP50, runP99, pooled: summarize(all), writePassP50: w.p50, writePassP99: w.p99, slowTrips, slowTripsWithGc });
      }
      for (const d of devices) d.close();
    }
  } finally {
    observer.disconnect();
    await listener.close();
  }
  return { rows, facts: { ...machineFacts(), listener: listenerKind } };
}

/** The result as a markdown table. */
export function fanoutTable(result: FanoutResult): string {
  return table(
    ['devices', 'cell', 'runs × trips', 'p50 (median of runs)', 'p99 (median of runs)', 'p99 (worst run)', 'p99 pooled', 'max pooled', 'frames written (p50 / p99)', 'trips > 1 ms (with a GC)', 'target'],
    result.rows.map((r) => [
      r.devices,
      r.mode,
      `${r.runP50.length} × ${r.trips}`,
      `${fmt(median(r.runP50))} ms`,
      `${fmt(median(r.runP99))} ms`,
      `${fmt(Math.max(...r.runP99))} ms`,
      `${fmt(r.pooled.p99)} ms`,
      `${fmt(r.pooled.max)} ms`,
      `${fmt(r.writePassP50)} / ${fmt(r.writePassP99)} ms`,
      `${r.slowTrips} (${r.slowTripsWithGc})`,
      r.devices === 100 ? (median(r.runP99) <= 2 ? 'met (≤ 2 ms)' : 'MISSED (> 2 ms)') : '',
    ]),
  );
}

if (require.main === module) {
  runFanout().then(
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
