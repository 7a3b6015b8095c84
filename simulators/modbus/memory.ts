/**
 * The four Modbus tables of one unit id. Each table spans the full 16-bit address space, but its
 * storage is allocated on the first write, so a unit that only uses holding registers costs 128 KiB,
 * not 384 KiB.
 *
 * Registers are stored big-endian, as they travel on the wire, so a read request is answered with
 * one byte copy straight from the table into the response (readWordsInto), without a detour through
 * numbers.
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
  /** Two bytes per register, big-endian. */
  private holding: Buffer | undefined;
  private input: Buffer | undefined;
  /** One byte per bit, 0 or 1. */
  private coil: Uint8Array | undefined;
  private discrete: Uint8Array | undefined;

  private words(table: RegisterTable): Buffer | undefined {
    return table === "holding" ? this.holding : this.input;
  }

  private bits(table: BitTable): Uint8Array | undefined {
    return table === "coil" ? this.coil : this.discrete;
  }

  readWords(table: RegisterTable, address: number, count: number): number[] {
    checkRange(table, address, count);
    const out = new Array<number>(count);
    const store = this.words(table);
    if (store === undefined) return out.fill(0);
    for (let i = 0, b = address * 2; i < count; i++, b += 2) out[i] = ((store[b] as number) << 8) | (store[b + 1] as number);
    return out;
  }

  /** Copies `count` registers from `address` into `out` at `offset`, big-endian (2 bytes each), as a read response carries them. */
  readWordsInto(table: RegisterTable, address: number, count: number, out: Buffer, offset: number): void {
    checkRange(table, address, count);
    const store = this.words(table);
    if (store === undefined) out.fill(0, offset, offset + count * 2);
    else store.copy(out, offset, address * 2, (address + count) * 2);
  }

  writeWords(table: RegisterTable, address: number, values: readonly number[]): void {
    checkRange(table, address, values.length);
    let store = this.words(table);
    if (store === undefined) {
      store = Buffer.alloc(TABLE_SIZE * 2);
      if (table === "holding") this.holding = store;
      else this.input = store;
    }
    for (let i = 0, b = address * 2; i < values.length; i++, b += 2) {
      const v = (values[i] ?? 0) & 0xffff;
      store[b] = v >>> 8;
      store[b + 1] = v & 0xff;
    }
  }

  readBits(table: BitTable, address: number, count: number): boolean[] {
    checkRange(table, address, count);
    const out = new Array<boolean>(count);
    const store = this.bits(table);
    if (store === undefined) return out.fill(false);
    for (let i = 0; i < count; i++) out[i] = store[address + i] !== 0;
    return out;
  }

  /**
   * Packs `count` bits from `address` into `out` at `offset`, as a read response carries them: bit i
   * in byte i/8, least significant bit first, unused high bits of the last byte 0.
   */
  readBitsInto(table: BitTable, address: number, count: number, out: Buffer, offset: number): void {
    checkRange(table, address, count);
    const bytes = (count + 7) >> 3;
    out.fill(0, offset, offset + bytes);
    const store = this.bits(table);
    if (store === undefined) return;
    for (let i = 0; i < count; i++) {
      if (store[address + i] !== 0) out[offset + (i >> 3)] = (out[offset + (i >> 3)] as number) | (1 << (i & 7));
    }
  }

  writeBits(table: BitTable, address: number, values: readonly boolean[]): void {
    checkRange(table, address, values.length);
    let store = this.bits(table);
    if (store === undefined) {
      store = new Uint8Array(TABLE_SIZE);
      if (table === "coil") this.coil = store;
      else this.discrete = store;
    }
    for (let i = 0; i < values.length; i++) store[address + i] = values[i] ? 1 : 0;
  }
}
