/**
 * Emergency stop through the real drivers: a cell with N GRBL gantries (lib/devices/gantry,
 * whose stop is feed hold `!` then soft reset 0x18, written together as its estopHoldMs is 0)
 * and N SCPI instruments (lib/devices/instrument, `ABOR`), each over TCP to its own simulator
 * (lib/simulators/grbl, lib/simulators/scpi), the simulators in two processes of their own
 * (bench/simulator-host.ts) so their parsing never shares the benchmark's event loop.
 * Measured: trip (`cell.estop()` called) → every simulator has received its stop frame (the
 * hosts' taps, on the same monotonic clock), and → the cell's stop report (every stop
 * acknowledged: a gantry's by GRBL's banner after the reset, an instrument's once written;
 * then every safe routine). Idle cell: no run, devices connected and polled as in production.
 *
 * Beside it, in the same run and taking turns trip by trip, the floor: one loop of raw
 * `socket.write()`s of the same stop bytes (`!` 0x18, `ABOR\n`; Nagle off) to a second, identical
 * set of simulators in the same host processes, timed the same way.
 */
import path from 'node:path';
import net from 'node:net';
import { once } from 'node:events';
import { fork, type ChildProcess } from 'node:child_process';
import { AbortContext, Device } from '../lib';
import { GrblGantry } from '../lib/devices/gantry';
import { ScpiInstrumentDevice } from '../lib/devices/instrument';
import { waitForStatus } from '../test/support/device-health';
import { fmt, machineFacts, median, msSince, summarize, table } from './stats';

export interface DriversOptions {
  /** Gantries, and as many instruments. */
  perKind?: number;
  runs?: number;
  trips?: number;
  warmupTrips?: number;
}

/** Figures of one contender (the drivers, or the floor). */
export interface DriversRow {
  who: 'workcell' | 'floor';
  /** Per run: p50 and p99 of trip → last stop frame received by any simulator, ms. */
  runP50: number[];
  runP99: number[];
  pooled: ReturnType<typeof summarize>;
  /** Medians over all trips, ms. */
  firstReceiptP50: number;
  lastGrblP50: number;
  lastScpiP50: number;
  /** Trip → the call returned (`estop()`, or the floor's loop), median, ms. */
  returnedP50: number;
  /** Workcell: trip → stop report, p50 and p99, ms (NaN for the floor). */
  reportP50: number;
  reportP99: number;
}

export interface DriversResult {
  perKind: number;
  runs: number;
  trips: number;
  rows: DriversRow[];
  /** Workcell's trip ÷ the floor's trip of the same round, median over every round. */
  paired: number;
  facts: Record<string, string>;
}

interface Sample {
  last: number;
  first: number;
  lastGrbl: number;
  lastScpi: number;
  returned: number;
  reported: number;
}

/** GRBL's emergency stop as the gantry writes it with estopHoldMs 0: feed hold, soft reset. */
const GRBL_STOP = Buffer.from([0x21, 0x18]);
const SCPI_STOP = Buffer.from('ABOR\n', 'latin1');

type Done = { trip: number; first: bigint; last: bigint };

interface Host {
  ports: number[];
  /** Forget earlier receipts; resolves once the host is listening for `trip`'s (by the simulators of `group`), with a promise of its receipts. */
  arm(trip: number, group: number): Promise<{ received: Promise<Done> }>;
  close(): Promise<void>;
}

/** Start a simulator host process (bench/simulator-host) for `groups` × `count` simulators of `kind`. */
async function startHost(kind: 'grbl' | 'scpi', count: number, groups: number): Promise<Host> {
  const fromSource = __filename.endsWith('.ts');
  const child: ChildProcess = fork(path.join(__dirname, `simulator-host.${fromSource ? 'ts' : 'js'}`), [kind, String(count), String(groups)], {
    execArgv: fromSource ? ['--require', 'tsx/cjs'] : [],
    // A session of its own, as a controller's software is never in the sender's (see estop-fanout.ts).
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const armed = new Map<number, () => void>();
  const done = new Map<number, (d: Done) => void>();
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the ${kind} simulator host exited (${code}) before listening`)));
    child.on('message', (m: { type: string; trip: number; ports: number[]; first: string; last: string }) => {
      if (m.type === 'ports') resolve(m.ports);
      else if (m.type === 'armed') armed.get(m.trip)?.();
      else if (m.type === 'done') done.get(m.trip)?.({ trip: m.trip, first: BigInt(m.first), last: BigInt(m.last) });
    });
  });
  child.removeAllListeners('exit');
  return {
    ports,
    async arm(trip, group) {
      const received = new Promise<Done>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`trip ${trip}: not every ${kind} simulator received its stop frame within 5 s`)), 5000);
        done.set(trip, (d) => {
          clearTimeout(timer);
          done.delete(trip);
          resolve(d);
        });
      });
      await new Promise<void>((resolve) => {
        armed.set(trip, () => {
          armed.delete(trip);
          resolve();
        });
        child.send({ type: 'arm', trip, group });
      });
      return { received };
    },
    async close() {
      const exited = new Promise((r) => child.once('exit', r));
      child.send({ type: 'close' });
      await exited;
    },
  };
}

async function ready<T extends Device & { open(): Promise<void> }>(device: T): Promise<T> {
  const up = waitForStatus(device, 'ready', 10_000);
  await device.open();
  await up;
  return device;
}

async function rawSocket(port: number): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await once(s, 'connect');
  s.setNoDelay(true);
  s.on('error', () => undefined);
  // The simulators answer (GRBL's banner after each reset): read and drop it.
  s.resume();
  return s;
}

function row(who: DriversRow['who'], perRun: Sample[][]): DriversRow {
  const all = perRun.flat();
  const report = summarize(all.map((s) => s.reported));
  return {
    who,
    runP50: perRun.map((run) => summarize(run.map((s) => s.last)).p50),
    runP99: perRun.map((run) => summarize(run.map((s) => s.last)).p99),
    pooled: summarize(all.map((s) => s.last)),
    firstReceiptP50: median(all.map((s) => s.first)),
    lastGrblP50: median(all.map((s) => s.lastGrbl)),
    lastScpiP50: median(all.map((s) => s.lastScpi)),
    returnedP50: median(all.map((s) => s.returned)),
    reportP50: report.p50,
    reportP99: report.p99,
  };
}

/** Run the drivers' E-stop benchmark. */
export async function runDrivers(options: DriversOptions = {}): Promise<DriversResult> {
  const perKind = options.perKind ?? 20;
  const runs = options.runs ?? 5;
  const trips = options.trips ?? 200;
  const warmupTrips = options.warmupTrips ?? 20;
  // Group 0 of each host serves the drivers, group 1 the floor.
  const [grbl, scpi] = await Promise.all([startHost('grbl', perKind, 2), startHost('scpi', perKind, 2)]);
  const cell = new AbortContext({ name: 'bench-drivers', safeTimeoutMs: 5000, stopTimeoutMs: 2000 });
  const devices: (GrblGantry | ScpiInstrumentDevice)[] = [];
  const sockets: net.Socket[] = [];
  try {
    devices.push(
      ...(await Promise.all([
        ...grbl.ports.slice(0, perKind).map((port, i) => ready(new GrblGantry({ name: `gantry${i + 1}`, address: `tcp://127.0.0.1:${port}`, reconnect: false }))),
        ...scpi.ports.slice(0, perKind).map((port, i) =>
          ready(new ScpiInstrumentDevice({ name: `instrument${i + 1}`, address: `tcp://127.0.0.1:${port}`, preset: i % 2 === 0 ? 'keysight-34461a' : 'rigol-dp821', reconnect: false })),
        ),
      ])),
    );
    for (const d of devices) cell.addDevice(d);
    // The floor's sockets, in the cell's order: gantries first, then instruments.
    sockets.push(...(await Promise.all([...grbl.ports.slice(perKind), ...scpi.ports.slice(perKind)].map(rawSocket))));
    const frames = sockets.map((_, i) => (i < perKind ? GRBL_STOP : SCPI_STOP));

    let tripNo = 0;
    /** Arm both hosts for `group`, run `fire` (returns when the caller's synchronous part is done), time the receipts. */
    const timed = async (group: number, fire: () => Promise<unknown> | undefined): Promise<Sample> => {
      const n = ++tripNo;
      const [{ received: grblDone }, { received: scpiDone }] = await Promise.all([grbl.arm(n, group), scpi.arm(n, group)]);
      const t0 = process.hrtime.bigint();
      const pending = fire();
      const returned = process.hrtime.bigint();
      await pending;
      const reported = pending ? process.hrtime.bigint() : 0n;
      const [g, s] = await Promise.all([grblDone, scpiDone]);
      return {
        last: msSince(t0, g.last > s.last ? g.last : s.last),
        first: msSince(t0, g.first < s.first ? g.first : s.first),
        lastGrbl: msSince(t0, g.last),
        lastScpi: msSince(t0, s.last),
        returned: msSince(t0, returned),
        reported: reported ? msSince(t0, reported) : NaN,
      };
    };
    const workcellTrip = async (): Promise<Sample> => {
      let report: Awaited<ReturnType<AbortContext['estop']>> | undefined;
      const sample = await timed(0, () => cell.estop('bench').then((r) => void (report = r)));
      const failed = report!.devices.filter((d) => d.stop !== 'stopped' || d.safe !== 'safe');
      if (failed.length) throw new Error(`trip ${tripNo}: ${failed.map((d) => `${d.device} stop ${d.stop}, safe ${d.safe}${d.stopError ?? d.safeError ? ` (${d.stopError ?? d.safeError})` : ''}`).join('; ')}`);
      await cell.reset('bench');
      return sample;
    };
    const floorTrip = (): Promise<Sample> =>
      timed(1, () => {
        for (let i = 0; i < sockets.length; i++) sockets[i].write(frames[i]);
        return undefined;
      });

    const samples = { workcell: [] as Sample[][], floor: [] as Sample[][] };
    const paired: number[] = [];
    const round = async (t: number, keep: boolean) => {
      // Alternate the order: neither always follows the other.
      const first = t % 2 === 0;
      const a = first ? await workcellTrip() : await floorTrip();
      const b = first ? await floorTrip() : await workcellTrip();
      const [w, f] = first ? [a, b] : [b, a];
      if (!keep) return;
      samples.workcell.at(-1)!.push(w);
      samples.floor.at(-1)!.push(f);
      paired.push(w.last / f.last);
    };
    for (let t = 0; t < warmupTrips; t++) await round(t, false);
    for (let r = 0; r < runs; r++) {
      samples.workcell.push([]);
      samples.floor.push([]);
      for (let t = 0; t < trips; t++) await round(t, true);
    }
    return { perKind, runs, trips, rows: [row('floor', samples.floor), row('workcell', samples.workcell)], paired: median(paired), facts: machineFacts() };
  } finally {
    for (const s of sockets) s.destroy();
    await Promise.all(devices.map((d) => d.close()));
    await Promise.all([grbl.close(), scpi.close()]);
  }
}

/** The result as markdown. */
export function driversTable(r: DriversResult): string {
  const ms = (v: number) => (Number.isFinite(v) ? `${fmt(v)} ms` : '—');
  const [floor, workcell] = r.rows;
  const perRun = median(workcell.runP50.map((v, i) => v / floor.runP50[i]));
  const perRun99 = median(workcell.runP99.map((v, i) => v / floor.runP99[i]));
  const figures = table(
    ['who', 'devices', 'runs × trips', 'p50 (median of runs)', 'p99 (median of runs)', 'p99 (worst run)', 'p99 pooled', 'max pooled', 'trip → first / last GRBL / last SCPI receipt (p50)', 'trip → call returned (p50)', 'trip → stop report (p50 / p99)'],
    r.rows.map((w) => [
      w.who === 'floor' ? 'floor (raw writes)' : 'Workcell (GRBL + SCPI drivers)',
      `${r.perKind} GRBL + ${r.perKind} SCPI`,
      `${r.runs} × ${r.trips}`,
      ms(median(w.runP50)),
      ms(median(w.runP99)),
      ms(Math.max(...w.runP99)),
      ms(w.pooled.p99),
      ms(w.pooled.max),
      `${fmt(w.firstReceiptP50)} / ${fmt(w.lastGrblP50)} / ${fmt(w.lastScpiP50)} ms`,
      ms(w.returnedP50),
      w.who === 'floor' ? '—' : `${fmt(w.reportP50)} / ${fmt(w.reportP99)} ms`,
    ]),
  );
  return `${figures}\n\nWorkcell ÷ floor: p50 ${fmt(perRun, 2)}× (median of per-run ratios), paired ${fmt(r.paired, 2)}× (median over rounds), p99 ${fmt(perRun99, 2)}× (median of per-run ratios).`;
}

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  runDrivers(quick ? { runs: 3, trips: 30, warmupTrips: 10 } : {}).then(
    (result) => {
      console.log(driversTable(result));
      console.log(JSON.stringify(result.facts));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
