/**
 * Emergency stop under Modbus polling load: 16 furnace controllers (lib/devices/furnace,
 * generic map) on one Modbus TCP bus (`ModbusBus`, maxInFlight 64) to 16 furnace simulators on
 * one server in a process of its own (bench/modbus-estop-host.ts), all in one cell. Measured:
 * trip (`cell.estop()` called) → every simulator has had its stop write (the furnace's stop reads
 * the working setpoint and writes it back as the setpoint, both in the bus's stop lane), on the
 * host's tap, the same monotonic clock.
 *
 * Two conditions, taking turns trip by trip: idle (the devices connected, telemetry off, nothing
 * else on the bus) and busy (each unit kept at `depth` outstanding reads of its 7 registers, in a
 * closed loop through the same bus: the polling load of bench/modbus-poll.ts, on the wire and
 * queued). Between trips the cell is reset. Target: busy p50 within 1 ms of idle p50.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { AbortContext } from '../lib';
import { FurnaceDevice } from '../lib/devices/furnace';
import { ModbusBus } from '../lib/io/modbus';
import { waitForStatus } from '../test/support/device-health';
import { fmt, machineFacts, msSince, summarize, table } from './stats';

export interface ModbusEstopOptions {
  units?: number;
  /** Trips per condition. */
  trips?: number;
  warmupTrips?: number;
  /** Reads each unit keeps outstanding while busy. */
  depth?: number;
}

export interface ModbusEstopResult {
  options: Required<ModbusEstopOptions>;
  idle: ReturnType<typeof summarize>;
  busy: ReturnType<typeof summarize>;
  /** Reads completed per second while busy (between trips), median over trips. */
  busyTxPerS: number;
  facts: Record<string, string>;
}

type Done = { first: bigint; last: bigint };

async function startHost(units: number): Promise<{ port: number; arm(trip: number): Promise<{ received: Promise<Done> }>; close(): Promise<void> }> {
  const fromSource = __filename.endsWith('.ts');
  const child: ChildProcess = fork(path.join(__dirname, `modbus-estop-host.${fromSource ? 'ts' : 'js'}`), [String(units)], {
    execArgv: fromSource ? ['--require', 'tsx/cjs'] : [],
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const armed = new Map<number, () => void>();
  const done = new Map<number, (d: Done) => void>();
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the Modbus host exited (${code}) before listening`)));
    child.on('message', (m: { type: string; trip: number; port: number; first: string; last: string }) => {
      if (m.type === 'port') resolve(m.port);
      else if (m.type === 'armed') armed.get(m.trip)?.();
      else if (m.type === 'done') done.get(m.trip)?.({ first: BigInt(m.first), last: BigInt(m.last) });
    });
  });
  child.removeAllListeners('exit');
  return {
    port,
    async arm(trip) {
      const received = new Promise<Done>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`trip ${trip}: not every furnace had its stop write within 5 s`)), 5000);
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
        child.send({ type: 'arm', trip });
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

/** Keeps `depth` reads outstanding per unit until stopped; counts completed reads. */
function pollingLoad(bus: ModbusBus, units: number, depth: number): { completed: () => number; stop: () => Promise<void> } {
  let running = true;
  let completed = 0;
  const loops: Promise<void>[] = [];
  for (let u = 1; u <= units; u++) {
    const unit = bus.unit(u);
    for (let d = 0; d < depth; d++) {
      loops.push(
        (async () => {
          while (running) {
            try {
              await unit.readHoldingRegisters(0, 7);
              completed++;
            } catch {
              // A read failed (the bus is busy with a stop, a timeout): go on polling.
            }
          }
        })(),
      );
    }
  }
  return {
    completed: () => completed,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

export async function runModbusEstop(options: ModbusEstopOptions = {}): Promise<ModbusEstopResult> {
  const opts: Required<ModbusEstopOptions> = { units: options.units ?? 16, trips: options.trips ?? 100, warmupTrips: options.warmupTrips ?? 10, depth: options.depth ?? 4 };
  const host = await startHost(opts.units);
  const bus = new ModbusBus(`tcp://127.0.0.1:${host.port}`, { maxInFlight: 64, reconnect: false, timeoutMs: 2000 });
  const cell = new AbortContext({ name: 'bench-modbus', safeTimeoutMs: 5000, stopTimeoutMs: 2000 });
  const devices: FurnaceDevice[] = [];
  try {
    for (let u = 1; u <= opts.units; u++) {
      const d = new FurnaceDevice({ name: `furnace${u}`, bus, unitId: u, preset: 'generic', telemetryIntervalMs: 0 });
      const up = waitForStatus(d, 'ready', 10_000);
      await d.open();
      await up;
      cell.addDevice(d);
      devices.push(d);
    }
    const samples = { idle: [] as number[], busy: [] as number[] };
    const rates: number[] = [];
    let tripNo = 0;
    const trip = async (busy: boolean, record: boolean): Promise<void> => {
      const load = busy ? pollingLoad(bus, opts.units, opts.depth) : undefined;
      if (load) {
        // Let the load reach its steady state (every slot taken, the queue full) before the trip.
        const t = performance.now();
        const before = load.completed();
        await new Promise((r) => setTimeout(r, 30));
        rates.push(((load.completed() - before) * 1000) / (performance.now() - t));
      }
      const { received } = await host.arm(++tripNo);
      const t0 = process.hrtime.bigint();
      const report = cell.estop('bench');
      const done = await received;
      await report;
      await load?.stop();
      await cell.reset('bench');
      if (record) samples[busy ? 'busy' : 'idle'].push(msSince(t0, done.last));
    };
    for (let i = 0; i < opts.warmupTrips; i++) await trip(i % 2 === 1, false);
    for (let i = 0; i < opts.trips; i++) {
      await trip(false, true);
      await trip(true, true);
    }
    return {
      options: opts,
      idle: summarize(samples.idle),
      busy: summarize(samples.busy),
      busyTxPerS: rates.sort((a, b) => a - b)[Math.floor(rates.length / 2)],
      facts: machineFacts(),
    };
  } finally {
    for (const d of devices) cell.removeDevice(d);
    await Promise.all(devices.map((d) => d.close()));
    await host.close();
  }
}

export function modbusEstopTable(r: ModbusEstopResult): string {
  const row = (name: string, s: ReturnType<typeof summarize>) => [name, fmt(s.p50), fmt(s.p99), fmt(s.max)];
  return [
    table(['condition', 'p50 ms', 'p99 ms', 'max ms'], [row('idle', r.idle), row(`busy (${fmt(r.busyTxPerS / 1000, 1)}k reads/s)`, r.busy)]),
    '',
    `busy p50 − idle p50: ${fmt(r.busy.p50 - r.idle.p50)} ms (target ≤ 1 ms); ${r.options.units} furnaces, ${r.options.trips} trips per condition, ${r.options.depth} reads outstanding per unit while busy`,
  ].join('\n');
}

if (require.main === module) {
  runModbusEstop()
    .then((r) => console.log(modbusEstopTable(r)))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
