import { FurnaceSimulator } from '../simulators/modbus/furnace';
import { ModbusIoModule } from '../simulators/modbus/io-module';
import { PressPlc } from '../simulators/modbus/press-plc';
import { ModbusServer } from '../simulators/modbus/server';

/** The unit ids of the demo's Modbus devices on their one bus. */
export const DEMO_MODBUS_UNITS = { furnace: 1, press: 2, gripper: 3 } as const;

/**
 * How much faster than the rest of the demo the furnace lives: a real furnace takes hours,
 * and the heat-treat example should take about a minute. Its thermal model (time constant
 * 300 s, dead time 10 s) runs this many times faster, so the furnace heats and cools in seconds.
 */
export const DEMO_FURNACE_SPEEDUP = 20;

/** A type K thermocouple's output, V, at `celsius` (about 41 µV/°C, cold junction at 0 °C). */
export function thermocoupleVolts(celsius: number): number {
  return celsius * 41e-6;
}

/** The demo's Modbus devices, all on one Modbus TCP server (one bus, three unit ids). */
export interface DemoModbusCell {
  readonly server: ModbusServer;
  /** A Eurotherm 3216 on a furnace (unit 1). */
  readonly furnace: FurnaceSimulator;
  /** A press/welder PLC (unit 2), its interlocks closed. */
  readonly press: PressPlc;
  /** An I/O module with the gripper's double-solenoid cylinder (unit 3): coils 0 (close) and 1 (open), switches on inputs 0 (closed) and 1 (open). */
  readonly gripper: ModbusIoModule;
  readonly port: number;
  /** `furnace 20.0 °C (SP 20, running); press Idle, ram at the top, weld off; gripper open`. */
  describeState(): string;
  close(): Promise<void>;
}

/** Starts the demo's Modbus devices on a free TCP port of `host`. */
export async function startDemoModbusCell(host: string, timeScale: number): Promise<DemoModbusCell> {
  const furnace = new FurnaceSimulator({ preset: 'eurotherm-3216', timeScale: timeScale * DEMO_FURNACE_SPEEDUP });
  const press = new PressPlc({ timeScale });
  const gripper = new ModbusIoModule({
    timeScale,
    cylinders: [{ valve: 'double', extendCoil: 0, retractCoil: 1, extendedInput: 0, retractedInput: 1, travelMs: 400 }],
  });
  const server = new ModbusServer([
    [DEMO_MODBUS_UNITS.furnace, furnace.slave],
    [DEMO_MODBUS_UNITS.press, press],
    [DEMO_MODBUS_UNITS.gripper, gripper],
  ]);
  const { port } = await server.listenTcp({ host, port: 0 });
  return {
    server,
    furnace,
    press,
    gripper,
    port,
    describeState() {
      const m = furnace.model;
      const f = `furnace ${m.temperatureC.toFixed(1)} °C (SP ${m.target.toFixed(1)}, ${m.running ? 'running' : 'stopped'})`;
      const p = `press ${press.state}, ram ${press.ramAtTop ? 'at the top' : `at ${press.ramPositionMm.toFixed(1)} mm`}, weld ${press.weldCurrentKa > 0 ? 'on' : 'off'}`;
      const g = gripper.cylinder(0).position >= 1 ? 'closed' : gripper.cylinder(0).position <= 0 ? 'open' : 'moving';
      return `${f}; ${p}; gripper ${g}`;
    },
    close: () => server.close(),
  };
}
