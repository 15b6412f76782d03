import { ModbusException, type ModbusSlave } from './modbus-slave';

export interface RegisterBankOptions {
  /** How many of each table the unit maps, from address 0; addresses past them are exception 02. Default 0 coils/inputs, 100 registers of each kind. */
  coils?: number;
  discreteInputs?: number;
  holdingRegisters?: number;
  inputRegisters?: number;
}

/**
 * A plain Modbus unit: four tables of the given sizes, all starting at 0 and all zero, that
 * read back what was written (a generic I/O module, or the unit a bus test or benchmark talks
 * to). Addresses past a table's size answer exception 02; with a size of 0 the table does not
 * exist and its functions answer 02 for every address. A test sets input registers and discrete
 * inputs directly (`inputRegisters[3] = 7`). Writes are counted in `writes`.
 */
export class RegisterBank implements ModbusSlave {
  readonly coils: boolean[];
  readonly discreteInputs: boolean[];
  readonly holdingRegisters: number[];
  readonly inputRegisters: number[];
  /** Write requests served (FC 5, 6, 15, 16). */
  writes = 0;

  constructor(options: RegisterBankOptions = {}) {
    this.coils = new Array<boolean>(options.coils ?? 0).fill(false);
    this.discreteInputs = new Array<boolean>(options.discreteInputs ?? 0).fill(false);
    this.holdingRegisters = new Array<number>(options.holdingRegisters ?? 100).fill(0);
    this.inputRegisters = new Array<number>(options.inputRegisters ?? 100).fill(0);
  }

  readCoils(address: number, count: number): boolean[] {
    return slice(this.coils, address, count);
  }

  readDiscreteInputs(address: number, count: number): boolean[] {
    return slice(this.discreteInputs, address, count);
  }

  readHoldingRegisters(address: number, count: number): number[] {
    return slice(this.holdingRegisters, address, count);
  }

  readInputRegisters(address: number, count: number): number[] {
    return slice(this.inputRegisters, address, count);
  }

  writeCoil(address: number, value: boolean): void {
    this.writeCoils(address, [value]);
  }

  writeCoils(address: number, values: readonly boolean[]): void {
    mapped(this.coils, address, values.length);
    this.writes++;
    for (let i = 0; i < values.length; i++) this.coils[address + i] = values[i];
  }

  writeRegister(address: number, value: number): void {
    this.writeRegisters(address, [value]);
  }

  writeRegisters(address: number, values: readonly number[]): void {
    mapped(this.holdingRegisters, address, values.length);
    this.writes++;
    for (let i = 0; i < values.length; i++) this.holdingRegisters[address + i] = values[i];
  }
}

function mapped(table: readonly unknown[], address: number, count: number): void {
  if (address + count > table.length) throw new ModbusException(2);
}

function slice<T>(table: readonly T[], address: number, count: number): T[] {
  mapped(table, address, count);
  return table.slice(address, address + count);
}
