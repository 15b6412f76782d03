import { FurnaceModel, type FurnaceModelOptions } from './furnace-model';
import { FURNACE_MAPS, type FurnaceMapOptions, type FurnacePresetName, type FurnaceUnitState } from './furnace-maps';
import type { ModbusSlave } from './modbus-slave';
import type { RegisterMap } from './register-map';
import { ModbusServer, type RtuOptions } from './server';

export interface FurnaceSimulatorOptions extends FurnaceModelOptions, FurnaceMapOptions {
  /** Which controller's register map to serve. Default `generic`. */
  preset?: FurnacePresetName;
}

/**
 * One simulated furnace with its temperature controller: the thermal model and control loop
 * (`FurnaceModel`, in °C) behind the register map of the chosen controller (furnace-maps.ts).
 * It is the `ModbusSlave` to serve (`slave`). Tests inspect the model (`model.target`,
 * `model.running`…), break the sensor (`breakSensor`), and read how many writes went to EEPROM
 * (`eepromWrites`) and how many write requests were served at all (`writeRequests`).
 */
export class FurnaceSimulator implements FurnaceUnitState {
  readonly preset: FurnacePresetName;
  readonly model: FurnaceModel;
  readonly slave: RegisterMap;
  eepromWrites = 0;

  constructor(options: FurnaceSimulatorOptions = {}) {
    this.preset = options.preset ?? 'generic';
    const build = FURNACE_MAPS[this.preset];
    if (!build) throw new RangeError(`furnace simulator: unknown preset ${JSON.stringify(this.preset)}; expected one of ${Object.keys(FURNACE_MAPS).join(', ')}`);
    this.model = new FurnaceModel(options);
    this.slave = build(this, options);
  }

  /** Write requests the unit served (FC 5, 6, 15, 16), whatever they wrote. */
  get writeRequests(): number {
    return this.slave.writes;
  }

  /**
   * The furnace's state in one phrase, from the model (a demo prints it at shutdown):
   * `123.4 °C, setpoint 200 °C, output 45 %, auto` (`stopped`, `manual`, `sensor break` as they apply).
   */
  describe(): string {
    const m = this.model;
    const mode = [m.running ? (m.manual ? 'manual' : 'auto') : 'stopped', ...(m.sensorBroken ? ['sensor break'] : [])].join(', ');
    return `${m.temperatureC.toFixed(1)} °C, setpoint ${Math.round(m.target * 10) / 10} °C, output ${m.output.toFixed(0)} %, ${mode}`;
  }

  /** Break (true) or mend (false) the temperature sensor: the PV then reads as the controller reports a break. */
  breakSensor(broken: boolean): void {
    this.model.sensorBroken = broken;
  }
}

export interface FurnaceUnitSpec extends FurnaceSimulatorOptions {
  unitId: number;
}

export interface StartedFurnaces {
  server: ModbusServer;
  /** The simulated furnaces by unit id. */
  furnaces: Map<number, FurnaceSimulator>;
  /** The TCP port, when `tcp` was asked for. */
  port?: number;
  close(): Promise<void>;
}

/**
 * Start furnace units on one Modbus server, for tests and the demo: over TCP on `tcp`
 * (`{host, port}`; port 0 picks a free one, default 127.0.0.1) and/or RTU on the serial device
 * `rtu.path` (the simulator's end of a pty pair). Resolves once listening.
 */
export async function startFurnaces(units: readonly FurnaceUnitSpec[], where: { tcp?: { host?: string; port?: number }; rtu?: RtuOptions & { path: string } } = { tcp: {} }): Promise<StartedFurnaces> {
  const server = new ModbusServer();
  const furnaces = new Map<number, FurnaceSimulator>();
  for (const spec of units) {
    const furnace = new FurnaceSimulator(spec);
    furnaces.set(spec.unitId, furnace);
    server.setUnit(spec.unitId, furnace.slave as ModbusSlave);
  }
  try {
    const port = where.tcp ? (await server.listenTcp({ host: where.tcp.host ?? '127.0.0.1', port: where.tcp.port ?? 0 })).port : undefined;
    if (where.rtu) await server.listenRtu(where.rtu.path, where.rtu);
    return { server, furnaces, port, close: () => server.close() };
  } catch (err) {
    await server.close();
    throw err;
  }
}
