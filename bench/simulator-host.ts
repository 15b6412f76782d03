/**
 * The drivers' E-stop benchmark's controllers: `groups` groups of `count` GRBL simulators
 * (`grbl`) or SCPI instrument simulators (`scpi`, a Keysight 34461A and a Rigol DP821 in turn) on
 * 127.0.0.1, in a process of their own (started by bench/estop-drivers.ts with `fork`), so their
 * parsing never shares the benchmark's event loop. One group serves the drivers, another the
 * floor's raw sockets. Usage: `simulator-host <grbl|scpi> <count> <groups>`.
 *
 * It taps each simulator's receipt of its stop frame, timestamped with process.hrtime.bigint()
 * (CLOCK_MONOTONIC, the benchmark's clock): a GRBL's soft reset 0x18 (the last byte of the
 * gantry's `!` 0x18), an instrument's `ABOR` line, as the simulator takes it from its socket.
 *
 * IPC: it sends `{ports}` once listening (group after group). `{type: 'arm', trip, group}` → it
 * forgets earlier receipts, answers `{type: 'armed', trip}`, and once every simulator of that
 * group has received its stop frame sends `{type: 'done', trip, first, last}` (ns, as strings).
 * `{type: 'close'}` ends it.
 */
import { GrblSimulator, Realtime } from '../lib/simulators/grbl';
import { Dmm34461A, RigolDP821, type ScpiInstrument } from '../lib/simulators/scpi';

type Message = { type: 'arm'; trip: number; group: number } | { type: 'close' };

const [kind, countText, groupsText] = process.argv.slice(2);
const count = Number(countText);
const groups = Number(groupsText ?? 1);
const send = (m: unknown) => process.send!(m);

let armed: { trip: number; group: number; seen: Set<number>; first: bigint; last: bigint } | undefined;

/** Simulator `index` received its stop frame now. */
function receipt(index: number): void {
  const at = process.hrtime.bigint();
  const a = armed;
  if (!a || Math.floor(index / count) !== a.group || a.seen.has(index)) return;
  if (a.seen.size === 0) a.first = at;
  a.seen.add(index);
  a.last = at;
  if (a.seen.size === count) {
    armed = undefined;
    send({ type: 'done', trip: a.trip, first: String(a.first), last: String(a.last) });
  }
}

async function main(): Promise<void> {
  const closers: (() => Promise<void>)[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count * groups; i++) {
    if (kind === 'grbl') {
      // No serial line modelled (baudRate 0): the stop path over TCP, as through ser2net.
      const sim = new GrblSimulator({ baudRate: 0 });
      sim.on('realtime', (byte: number) => {
        if (byte === Realtime.Reset) receipt(i);
      });
      ports.push((await sim.listen({ port: 0 })).port);
      closers.push(() => sim.close());
    } else if (kind === 'scpi') {
      const sim: ScpiInstrument = i % 2 === 0 ? new Dmm34461A({ timeScale: 0.01 }) : new RigolDP821();
      sim.on('command', (e: { message: string }) => {
        if (/^\s*:?ABOR/i.test(e.message)) receipt(i);
      });
      ports.push((await sim.listen({ port: 0 })).port);
      closers.push(() => sim.close());
    } else {
      throw new Error(`simulator-host: unknown kind ${JSON.stringify(kind)} (grbl or scpi)`);
    }
  }
  process.on('message', (m: Message) => {
    if (m.type === 'arm') {
      armed = { trip: m.trip, group: m.group, seen: new Set(), first: 0n, last: 0n };
      send({ type: 'armed', trip: m.trip });
    } else if (m.type === 'close') {
      void Promise.all(closers.map((c) => c())).then(() => process.exit(0));
    }
  });
  // The benchmark gone, nothing to serve.
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ports', ports });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
