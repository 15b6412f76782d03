import { GrblSimulator } from '../simulators/grbl';
import { Dmm34461A, RigolDP821 } from '../simulators/scpi';
import { probeVolts } from './part-under-test';
import { startDemoModbusCell, thermocoupleVolts, type DemoModbusCell } from './modbus-cell';

/** One simulated device of the demo cell and where it listens. */
export interface DemoSimulatorAddress {
  /** What it is, for the console ("GRBL 1.1h gantry"). */
  readonly label: string;
  /** The environment variable the example flows read the address from (`GANTRY_ADDRESS`). */
  readonly envVar: string;
  /** `tcp://127.0.0.1:<port>`, the form a device config node's address field takes. */
  readonly address: string;
  readonly port: number;
}

/** The running simulators of the demo cell. */
export interface DemoSimulators {
  readonly gantry: GrblSimulator;
  /** A second GRBL machine (a CNC router), for the gantry job example: a GRBL link takes one client. */
  readonly router: GrblSimulator;
  readonly dmm: Dmm34461A;
  readonly psu: RigolDP821;
  /** The heat-treat and press cell's Modbus devices: a furnace controller, a press/welder PLC, a gripper's I/O module, on one Modbus TCP server. */
  readonly modbus: DemoModbusCell;
  /** A second DMM, logging the furnace's thermocouple (DC volts, about 41 µV/°C). */
  readonly furnaceDmm: Dmm34461A;
  readonly addresses: readonly DemoSimulatorAddress[];
  /** `{GANTRY_ADDRESS: 'tcp://…', DMM_ADDRESS: …, PSU_ADDRESS: …, ROUTER_ADDRESS: …, MODBUS_ADDRESS: …, FURNACE_DMM_ADDRESS: …}`: the environment Node-RED gets. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * The devices' state in one line, read from the simulators themselves, as the demo prints it at
   * shutdown: `gantry Alarm at X-23.500 Y-19.583 Z-3.917, spindle off, coolant off; DMM idle;
   * power supply CH1 off, CH2 off; router Idle, spindle off; furnace 20.0 °C (SP 20.0, running); press
   * Idle, ram at the top, weld off; gripper open`. The gantry's state is GRBL's status-report state and its
   * position the machine position; the DMM is `measuring` or `idle`.
   */
  describeState(): string;
  /** Stops every listener and timer; resolves when every port is released. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * The gantry's travel: GRBL's convention puts home at the top of each axis and the work space
 * in negative machine coordinates. The example flows move inside it; a move outside is refused
 * by the driver's soft-limit check before a byte is sent (and by the simulator's $20 if one slips through).
 */
export const DEMO_GANTRY_TRAVEL = {
  x: { min: -300, max: 0 },
  y: { min: -200, max: 0 },
  z: { min: -80, max: 0 },
} as const;

export interface DemoSimulatorOptions {
  /** Interface to listen on. Default 127.0.0.1. */
  readonly host?: string;
  /**
   * Speed-up of the machines' time (gantry motion and homing, DMM apertures). Default 1: real
   * speed, so the demo looks like the bench it stands in for (homing takes about 7 s). Tests
   * that run the example flows end to end speed it up (`npm start` takes it from
   * `WORKCELL_DEMO_TIME_SCALE`).
   */
  readonly timeScale?: number;
}

/**
 * Starts the demo cell's simulated devices, each on a free TCP port of `host`: a GRBL 1.1h
 * gantry (homing enabled, so it powers up in Alarm until homed, with soft limits), a Keysight
 * 34461A DMM and a Rigol DP821 power supply, wired together through the part under test
 * (part-under-test.ts): CH1 feeds the part, and the DMM's DC volts input is the part's voltage
 * where the gantry holds the probe, read at each reading; and a second GRBL machine (the router
 * of the gantry job example, configured as the gantry); and the heat-treat and press cell on
 * one Modbus TCP server (modbus-cell.ts: a Eurotherm 3216 furnace controller, a press/welder
 * PLC, a gripper's I/O module) with a second DMM reading the furnace's thermocouple. If one
 * fails to start, the ones already started are closed before the error is rethrown.
 */
export async function startDemoSimulators(options: DemoSimulatorOptions = {}): Promise<DemoSimulators> {
  const host = options.host ?? '127.0.0.1';
  const timeScale = options.timeScale ?? 1;
  const gantry = new GrblSimulator({
    timeScale,
    softLimits: { x: { ...DEMO_GANTRY_TRAVEL.x }, y: { ...DEMO_GANTRY_TRAVEL.y }, z: { ...DEMO_GANTRY_TRAVEL.z } },
    // A machine tuned for quicker homing than GRBL's default $25=500 mm/min: after an emergency
    // stop far from home, homing takes seconds rather than most of a minute.
    homing: { seekRate: 2500, feedRate: 100 },
  });
  // The router of the gantry job example: the same machine, its own link (GRBL takes one client).
  const router = new GrblSimulator({
    timeScale,
    softLimits: { x: { ...DEMO_GANTRY_TRAVEL.x }, y: { ...DEMO_GANTRY_TRAVEL.y }, z: { ...DEMO_GANTRY_TRAVEL.z } },
    homing: { seekRate: 2500, feedRate: 100 },
  });
  // The DMM's timeScale multiplies measurement time, so it is the inverse of a speed-up.
  const dmm = new Dmm34461A({ timeScale: 1 / timeScale });
  // Channel 1 feeds the part, a 100 Ω track, so its current reading is not zero once the output is on.
  const psu = new RigolDP821({ loadOhms: [100, Infinity] });
  // The DMM measures what the supply feeds the part, where the gantry holds the probe.
  dmm.connectInput('VOLT:DC', () => probeVolts(psu.output(1).measuredV, gantry.machinePosition));
  const started: Array<{ close(): Promise<void> }> = [];
  const addresses: DemoSimulatorAddress[] = [];
  const furnaceDmm = new Dmm34461A({ timeScale: 1 / timeScale });
  let modbus: DemoModbusCell | undefined;
  const entries = [
    { label: 'GRBL 1.1h gantry', envVar: 'GANTRY_ADDRESS', sim: gantry },
    { label: 'Keysight 34461A DMM', envVar: 'DMM_ADDRESS', sim: dmm },
    { label: 'Rigol DP821 power supply', envVar: 'PSU_ADDRESS', sim: psu },
    { label: 'GRBL 1.1h router', envVar: 'ROUTER_ADDRESS', sim: router },
    { label: 'Keysight 34461A DMM on the furnace thermocouple', envVar: 'FURNACE_DMM_ADDRESS', sim: furnaceDmm },
  ];
  try {
    for (const { label, envVar, sim } of entries) {
      const { port } = await sim.listen({ host, port: 0 });
      started.push(sim);
      addresses.push({ label, envVar, port, address: `tcp://${host}:${port}` });
    }
    const cell = await startDemoModbusCell(host, timeScale);
    modbus = cell;
    started.push(cell);
    addresses.push({ label: 'Modbus TCP: furnace controller (unit 1), press PLC (unit 2), gripper I/O (unit 3)', envVar: 'MODBUS_ADDRESS', port: cell.port, address: `tcp://${host}:${cell.port}` });
    furnaceDmm.connectInput('VOLT:DC', () => thermocoupleVolts(cell.furnace.model.temperatureC));
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    gantry,
    router,
    dmm,
    psu,
    modbus: modbus!,
    furnaceDmm,
    addresses,
    env: Object.fromEntries(addresses.map((a) => [a.envVar, a.address])),
    describeState() {
      const { flood, mist } = gantry.coolant;
      const coolant = flood || mist ? [flood && 'flood', mist && 'mist'].filter(Boolean).join(' and ') + ' on' : 'off';
      const outputs = psu.outputs.map((o) => `CH${o.channel} ${o.enabled ? 'on' : 'off'}`).join(', ');
      const { x, y, z } = gantry.machinePosition;
      const at = `X${x.toFixed(3)} Y${y.toFixed(3)} Z${z.toFixed(3)}`;
      const routerState = `router ${router.state}, spindle ${router.spindle.on ? 'on' : 'off'}`;
      return `gantry ${gantry.state} at ${at}, spindle ${gantry.spindle.on ? 'on' : 'off'}, coolant ${coolant}; DMM ${dmm.measuring ? 'measuring' : 'idle'}; power supply ${outputs}; ${routerState}; ${modbus!.describeState()}`;
    },
    close() {
      closing ??= Promise.allSettled(started.map((s) => s.close())).then(() => undefined);
      return closing;
    },
  };
}
