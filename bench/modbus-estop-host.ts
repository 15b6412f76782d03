/**
 * The Modbus e-stop benchmark's controllers: `count` furnace simulators (generic map) as the
 * units 1…count of one Modbus TCP server (lib/simulators/modbus, answering in the same tick), in a
 * process of its own (started by bench/modbus-estop.ts with `fork`), so serving the polling load
 * never shares the benchmark's event loop. Usage: `modbus-estop-host <count>`.
 *
 * It taps each unit's first write to its setpoint register after arming (the furnace's stop:
 * hold the present setpoint), timestamped with process.hrtime.bigint() (CLOCK_MONOTONIC, the
 * benchmark's clock) as the server takes the request from its socket.
 *
 * IPC: it sends `{type: 'port', port}` once listening. `{type: 'arm', trip}` → it forgets earlier
 * receipts, answers `{type: 'armed', trip}`, and once every unit has had its setpoint written
 * sends `{type: 'done', trip, first, last}` (ns, as strings). `{type: 'close'}` ends it.
 */
import { GENERIC_FURNACE_MAP } from '../lib/devices/furnace/generic-map';
import { FurnaceSimulator } from '../lib/simulators/modbus/furnace';
import { ModbusServer } from '../lib/simulators/modbus/server';

type Message = { type: 'arm'; trip: number } | { type: 'close' };

const count = Number(process.argv[2] ?? 16);
const send = (m: unknown) => process.send!(m);
let armed: { trip: number; seen: Set<number>; first: bigint; last: bigint } | undefined;

function receipt(unit: number): void {
  const at = process.hrtime.bigint();
  const a = armed;
  if (!a || a.seen.has(unit)) return;
  if (a.seen.size === 0) a.first = at;
  a.seen.add(unit);
  a.last = at;
  if (a.seen.size === count) {
    armed = undefined;
    send({ type: 'done', trip: a.trip, first: String(a.first), last: String(a.last) });
  }
}

async function main(): Promise<void> {
  const server = new ModbusServer();
  for (let unit = 1; unit <= count; unit++) {
    const furnace = new FurnaceSimulator({ preset: 'generic' });
    const slave = furnace.slave;
    // Tap the setpoint writes (FC 6 and FC 16) as the server hands them to the unit.
    const writeRegister = slave.writeRegister.bind(slave);
    slave.writeRegister = (address: number, value: number) => {
      if (address === GENERIC_FURNACE_MAP.setpoint) receipt(unit);
      writeRegister(address, value);
    };
    const writeRegisters = slave.writeRegisters.bind(slave);
    slave.writeRegisters = (address: number, values: readonly number[]) => {
      if (address <= GENERIC_FURNACE_MAP.setpoint && address + values.length > GENERIC_FURNACE_MAP.setpoint) receipt(unit);
      writeRegisters(address, values);
    };
    server.setUnit(unit, slave);
  }
  const { port } = await server.listenTcp({ host: '127.0.0.1', port: 0 });
  process.on('message', (m: Message) => {
    if (m.type === 'arm') {
      armed = { trip: m.trip, seen: new Set(), first: 0n, last: 0n };
      send({ type: 'armed', trip: m.trip });
    } else if (m.type === 'close') {
      void server.close().then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'port', port });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
