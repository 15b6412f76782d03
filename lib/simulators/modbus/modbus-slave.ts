/**
 * The data model of one simulated Modbus unit, as the simulator's server (`ModbusServer`)
 * serves it. Addresses are 0-based protocol addresses. A method that is missing means the unit
 * does not support that function (exception 01, illegal function). A method throws
 * `new ModbusException(code)` to answer with an exception: 02 for an address the unit does not
 * map (any address of a read range unmapped fails the whole read), 03 for a value it refuses,
 * 04 for a device failure. Methods answer synchronously: the server replies in the same tick
 * the request arrives, so benchmarks measure the client, not the simulator.
 */
export interface ModbusSlave {
  readCoils?(address: number, count: number): boolean[];
  readDiscreteInputs?(address: number, count: number): boolean[];
  readHoldingRegisters?(address: number, count: number): number[];
  readInputRegisters?(address: number, count: number): number[];
  writeCoil?(address: number, value: boolean): void;
  /** FC 16; each address is checked before any is written (all or nothing). */
  writeRegisters?(address: number, values: readonly number[]): void;
  writeRegister?(address: number, value: number): void;
  writeCoils?(address: number, values: readonly boolean[]): void;
}

/** A Modbus exception a simulated unit answers with (code 1–11). */
export class ModbusException extends Error {
  override readonly name = 'ModbusException';
  constructor(readonly code: number, message = `Modbus exception ${code}`) {
    super(message);
  }
}
