import { ModbusIoModule, type IoModuleOptions } from './io-module';
import { PressPlc, type PressPlcOptions } from './press-plc';
import { ModbusServer, type RtuOptions } from './server';

export interface PressUnitSpec extends PressPlcOptions {
  unitId: number;
}

export interface IoModuleUnitSpec extends IoModuleOptions {
  unitId: number;
}

export interface StartedPressCell {
  server: ModbusServer;
  /** The simulated press PLCs by unit id. */
  presses: Map<number, PressPlc>;
  /** The simulated I/O modules by unit id. */
  ioModules: Map<number, ModbusIoModule>;
  /** The TCP port, when `tcp` was asked for. */
  port?: number;
  close(): Promise<void>;
}

/**
 * Start press PLCs and I/O modules as units of one Modbus server, for tests and the demo: over
 * TCP on `tcp` (`{host, port}`; port 0 picks a free one, default 127.0.0.1) and/or RTU on the
 * serial device `rtu.path` (the simulator's end of a pty pair). Resolves once listening; a unit
 * id used twice is refused (a RangeError naming it) before anything listens.
 */
export async function startPressCell(
  units: { presses?: readonly PressUnitSpec[]; ioModules?: readonly IoModuleUnitSpec[] },
  where: { tcp?: { host?: string; port?: number }; rtu?: RtuOptions & { path: string } } = { tcp: {} },
): Promise<StartedPressCell> {
  const server = new ModbusServer();
  const presses = new Map<number, PressPlc>();
  const ioModules = new Map<number, ModbusIoModule>();
  const taken = (id: number) => {
    if (presses.has(id) || ioModules.has(id)) throw new RangeError(`Modbus simulator: unit ${id} is given twice`);
  };
  for (const spec of units.presses ?? []) {
    taken(spec.unitId);
    const plc = new PressPlc(spec);
    presses.set(spec.unitId, plc);
    server.setUnit(spec.unitId, plc);
  }
  for (const spec of units.ioModules ?? []) {
    taken(spec.unitId);
    const io = new ModbusIoModule(spec);
    ioModules.set(spec.unitId, io);
    server.setUnit(spec.unitId, io);
  }
  try {
    const port = where.tcp ? (await server.listenTcp({ host: where.tcp.host ?? '127.0.0.1', port: where.tcp.port ?? 0 })).port : undefined;
    if (where.rtu) await server.listenRtu(where.rtu.path, where.rtu);
    return { server, presses, ioModules, port, close: () => server.close() };
  } catch (err) {
    await server.close();
    throw err;
  }
}
