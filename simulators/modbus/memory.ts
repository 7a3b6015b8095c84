/**
 * The four Modbus tables of one unit id. Each table spans the full 16-bit address space, but its
 * storage is allocated on the first write, so a unit that only uses holding registers costs 128 KiB,
 * not 384 KiB.
 */

export type RegisterTable = "holding" | "input";
export type BitTable = "coil" | "discrete";
export type Table = RegisterTable | BitTable;

/** Entries per table: addresses 0..65535. */
export const TABLE_SIZE = 0x10000;

export function isRegisterTable(table: Table): table is RegisterTable {
  return table === "holding" || table === "input";
}

function checkRange(table: Table, address: number, count: number): void {
  if (!Number.isInteger(address) || !Number.isInteger(count) || address < 0 || count < 0 || address + count > TABLE_SIZE) {
    throw new RangeError(`${table} ${address}+${count} is outside 0..${TABLE_SIZE - 1}`);
  }
}

export class UnitMemory {
  private readonly words: Partial<Record<RegisterTable, Uint16Array>> = {};
  private readonly bits: Partial<Record<BitTable, Uint8Array>> = {};

  readWords(table: RegisterTable, address: number, count: number): number[] {
    checkRange(table, address, count);
    const store = this.words[table];
    if (store === undefined) return new Array<number>(count).fill(0);
    return Array.from(store.subarray(address, address + count));
  }

  writeWords(table: RegisterTable, address: number, values: readonly number[]): void {
    checkRange(table, address, values.length);
    const store = (this.words[table] ??= new Uint16Array(TABLE_SIZE));
    for (let i = 0; i < values.length; i++) store[address + i] = (values[i] ?? 0) & 0xffff;
  }

  readBits(table: BitTable, address: number, count: number): boolean[] {
    checkRange(table, address, count);
    const store = this.bits[table];
    if (store === undefined) return new Array<boolean>(count).fill(false);
    return Array.from(store.subarray(address, address + count), (b) => b !== 0);
  }

  writeBits(table: BitTable, address: number, values: readonly boolean[]): void {
    checkRange(table, address, values.length);
    const store = (this.bits[table] ??= new Uint8Array(TABLE_SIZE));
    for (let i = 0; i < values.length; i++) store[address + i] = values[i] ? 1 : 0;
  }
}
