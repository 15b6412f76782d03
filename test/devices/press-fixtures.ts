import { ModbusBus, type ModbusBusOptions } from '../../lib/io/modbus/modbus-bus';
import { ActuatorDevice, type ActuatorDeviceOptions } from '../../lib/devices/actuator';
import { PressDevice, type PressDeviceOptions } from '../../lib/devices/press';
import { startPressCell, type IoModuleUnitSpec, type PressUnitSpec, type StartedPressCell } from '../../lib/simulators/modbus/press-host';
import { waitForStatus } from '../support/device-health';

export const PRESS_UNIT = 3;
export const IO_UNIT = 7;

/** One press PLC (unit 3, 10× time) and one I/O module (unit 7) on a Modbus TCP server at 127.0.0.1, port 0. */
export function startPressSims(press: Partial<PressUnitSpec> = {}, io: Partial<IoModuleUnitSpec> = {}): Promise<StartedPressCell> {
  return startPressCell({
    presses: [{ timeScale: 10, ...press, unitId: PRESS_UNIT }],
    ioModules: [{ timeScale: 5, ...io, unitId: IO_UNIT }],
  });
}

export function tcpBus(port: number, options: ModbusBusOptions = {}): ModbusBus {
  return new ModbusBus(`tcp://127.0.0.1:${port}`, { timeoutMs: 500, reconnect: { minMs: 20, maxMs: 50 }, ...options });
}

/** A press on `bus`, opened and ready. */
export async function readyPress(bus: ModbusBus, options: Partial<PressDeviceOptions> = {}): Promise<PressDevice> {
  const press = new PressDevice({ name: 'Press', unitId: PRESS_UNIT, watchIntervalMs: 10, ...options, bus });
  await press.open();
  await waitForStatus(press, 'ready');
  return press;
}

/** An actuator on `bus`, opened and ready. */
export async function readyActuator(bus: ModbusBus, options: Partial<ActuatorDeviceOptions> = {}): Promise<ActuatorDevice> {
  const actuator = new ActuatorDevice({ name: 'gripper', unitId: IO_UNIT, ...options, bus });
  await actuator.open();
  await waitForStatus(actuator, 'ready');
  return actuator;
}

/** A signal that never fires, for operations outside any run. */
export const noSignal = new AbortController().signal;
