import { ModbusException, type ModbusSlave } from './modbus-slave';

/** One mapped holding register: how it reads, and how it takes a write (absent: read-only). */
export interface WordEntry {
  read(): number;
  write?(value: number): void;
  /** False for a value the unit refuses (exception 03); checked before anything is written. */
  accepts?(value: number): boolean;
}

/** One mapped bit (a coil, also readable as a discrete input). */
export interface BitEntry {
  read(): boolean;
  write?(value: boolean): void;
}

/** A signed 16-bit value as its register word. */
export function fromInt16(value: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(value))) & 0xffff;
}

/** A register word as a signed 16-bit value. */
export function toInt16(word: number): number {
  return word >= 0x8000 ? word - 0x10000 : word;
}

const f32 = new DataView(new ArrayBuffer(4));

/** An IEEE 754 single as two words, high word first. */
export function floatWords(value: number): [number, number] {
  f32.setFloat32(0, value);
  return [f32.getUint16(0), f32.getUint16(2)];
}

/** Two words, high word first, as an IEEE 754 single. */
export function wordsFloat(high: number, low: number): number {
  f32.setUint16(0, high);
  f32.setUint16(2, low);
  return f32.getFloat32(0);
}

/**
 * A simulated unit's register map, as a `ModbusSlave`: holding registers (also served to FC 4,
 * as many controllers do) and bits (coils, also served to FC 2), each defined by address. A read
 * that touches an unmapped address answers exception 02; a write to an unmapped address 02, to a
 * read-only one or with a value it does not `accept` 03 (nothing of a multiple write is written unless every address takes it).
 * Pairs of words written together are handed to `pairs` first (32-bit values such as floats),
 * so a 32-bit value changes only when both of its words are written in one request; one word of
 * a pair written alone is exception 03.
 */
export class RegisterMap implements ModbusSlave {
  private readonly words = new Map<number, WordEntry>();
  private readonly bits = new Map<number, BitEntry>();
  /** 32-bit values by their first address: `write` gets both words in address order. */
  private readonly pairs = new Map<number, { write?(first: number, second: number): void; accepts?(first: number, second: number): boolean }>();
  /** Every write request served, by function (5, 6, 15, 16). */
  writes = 0;
  /** Told of every write served, after it was applied (a test's log of what a driver wrote). */
  onWrite: ((address: number, values: readonly (number | boolean)[]) => void) | undefined;

  word(address: number, entry: WordEntry): this {
    this.words.set(address, entry);
    return this;
  }

  /** The word entry at `address`, or undefined (for a map that serves the same parameters twice). */
  wordAt(address: number): WordEntry | undefined {
    return this.words.get(address);
  }

  bit(address: number, entry: BitEntry): this {
    this.bits.set(address, entry);
    return this;
  }

  /**
   * A 32-bit value in `address` and `address + 1`: reads give `read()`'s two words in address
   * order; a write gives `write` both, unless `accepts` refuses them (exception 03).
   */
  pair(address: number, read: () => [number, number], write?: (first: number, second: number) => void, accepts?: (first: number, second: number) => boolean): this {
    this.words.set(address, { read: () => read()[0] });
    this.words.set(address + 1, { read: () => read()[1] });
    this.pairs.set(address, { write, accepts });
    return this;
  }

  readHoldingRegisters(address: number, count: number): number[] {
    const out = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      const entry = this.words.get(address + i);
      if (!entry) throw new ModbusException(2);
      out[i] = entry.read() & 0xffff;
    }
    return out;
  }

  readInputRegisters(address: number, count: number): number[] {
    return this.readHoldingRegisters(address, count);
  }

  readCoils(address: number, count: number): boolean[] {
    const out = new Array<boolean>(count);
    for (let i = 0; i < count; i++) {
      const entry = this.bits.get(address + i);
      if (!entry) throw new ModbusException(2);
      out[i] = entry.read();
    }
    return out;
  }

  readDiscreteInputs(address: number, count: number): boolean[] {
    return this.readCoils(address, count);
  }

  writeCoil(address: number, value: boolean): void {
    this.writeCoils(address, [value]);
  }

  writeCoils(address: number, values: readonly boolean[]): void {
    for (let i = 0; i < values.length; i++) {
      const entry = this.bits.get(address + i);
      if (!entry) throw new ModbusException(2);
      if (!entry.write) throw new ModbusException(3);
    }
    this.writes++;
    for (let i = 0; i < values.length; i++) this.bits.get(address + i)!.write!(values[i]);
    this.onWrite?.(address, values);
  }

  writeRegister(address: number, value: number): void {
    this.writeRegisters(address, [value]);
  }

  writeRegisters(address: number, values: readonly number[]): void {
    const plan: (() => void)[] = [];
    for (let i = 0; i < values.length; i++) {
      const at = address + i;
      const entry = this.words.get(at);
      if (!entry) throw new ModbusException(2);
      const pair = this.pairs.get(at);
      if (pair) {
        if (i + 1 >= values.length || !pair.write) throw new ModbusException(3);
        const [first, second] = [values[i], values[i + 1]];
        if (pair.accepts && !pair.accepts(first, second)) throw new ModbusException(3);
        plan.push(() => pair.write!(first, second));
        i++;
        continue;
      }
      if (this.pairs.has(at - 1) || !entry.write) throw new ModbusException(3);
      const value = values[i];
      if (entry.accepts && !entry.accepts(value)) throw new ModbusException(3);
      plan.push(() => entry.write!(value));
    }
    this.writes++;
    for (const apply of plan) apply();
    this.onWrite?.(address, values);
  }
}
