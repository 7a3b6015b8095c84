/**
 * Value types <-> 16-bit register words, in the four byte orders PLCs actually use.
 *
 * Bytes of the big-endian value are named A B C D (… for 64-bit: A..H); the order says how they sit
 * in the registers, first register first:
 *   ABCD  big-endian, high word first (the Modbus default)       float32 1.5 -> [0x3FC0, 0x0000]
 *   CDAB  word swap: low word first, bytes big-endian in a word   -> [0x0000, 0x3FC0]
 *   BADC  byte swap inside each word, high word first             -> [0xC03F, 0x0000]
 *   DCBA  fully little-endian                                     -> [0x0000, 0xC03F]
 * 64-bit types generalise the same two rules (reverse the words, swap bytes in a word); 16-bit types
 * only see the byte swap.
 *
 * `string` is ASCII text in a fixed number of registers, two characters per register, high byte
 * first (ABCD/CDAB) or low byte first (BADC/DCBA); the characters always run from the first register
 * to the last (a word swap means nothing for text). Short text is padded with NUL bytes, long text is
 * cut, and a character outside ASCII is sent as "?".
 */

export const VALUE_TYPES = ["bool", "int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64", "string"] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

export const BYTE_ORDERS = ["ABCD", "CDAB", "BADC", "DCBA"] as const;
export type ByteOrder = (typeof BYTE_ORDERS)[number];

/** What a signal produces: bigint carries 64-bit integers past 2^53 without rounding; string is for text. */
export type SimValue = number | bigint | boolean | string;

/** Registers one value occupies (bool lives in a bit table: one entry). A string takes `length` registers. */
export function wordCount(type: ValueType, length?: number): number {
  switch (type) {
    case "string":
      if (length === undefined || !Number.isInteger(length) || length < 1) throw new RangeError(`a string needs a length in registers (1 or more), got ${length}`);
      return length;
    case "bool":
    case "int16":
    case "uint16":
      return 1;
    case "int32":
    case "uint32":
    case "float32":
      return 2;
    case "int64":
    case "uint64":
    case "float64":
      return 4;
  }
}

const INTEGER_TEXT = /^\s*-?\d+\s*$/;

function toNumber(value: SimValue): number {
  if (typeof value === "boolean") return value ? 1 : 0;
  return Number(value);
}

/** Text for a string register block: numbers in their shortest decimal form, booleans as true/false. */
function toText(value: SimValue): string {
  return typeof value === "string" ? value : String(value);
}

/**
 * Integers wrap modulo 2^bits like a device's counter does; non-integers round to nearest. NaN and
 * infinities become 0 rather than throwing, because a tick must never fail.
 */
function toBigInt(value: SimValue, bits: number, signed: boolean): bigint {
  let big: bigint;
  if (typeof value === "bigint") big = value;
  else if (typeof value === "string" && INTEGER_TEXT.test(value)) big = BigInt(value.trim());
  else {
    const n = toNumber(value);
    big = Number.isFinite(n) ? BigInt(Math.round(n)) : 0n;
  }
  return signed ? BigInt.asIntN(bits, big) : BigInt.asUintN(bits, big);
}

function bigEndianBytes(type: Exclude<ValueType, "bool" | "string">, value: SimValue): Buffer {
  const buf = Buffer.alloc(wordCount(type) * 2);
  switch (type) {
    case "int16":
      buf.writeInt16BE(Number(toBigInt(value, 16, true)));
      break;
    case "uint16":
      buf.writeUInt16BE(Number(toBigInt(value, 16, false)));
      break;
    case "int32":
      buf.writeInt32BE(Number(toBigInt(value, 32, true)));
      break;
    case "uint32":
      buf.writeUInt32BE(Number(toBigInt(value, 32, false)));
      break;
    case "int64":
      buf.writeBigInt64BE(toBigInt(value, 64, true));
      break;
    case "uint64":
      buf.writeBigUInt64BE(toBigInt(value, 64, false));
      break;
    case "float32":
      buf.writeFloatBE(toNumber(value));
      break;
    case "float64":
      buf.writeDoubleBE(toNumber(value));
      break;
  }
  return buf;
}

function swapsBytes(order: ByteOrder): boolean {
  return order === "BADC" || order === "DCBA";
}

function reversesWords(order: ByteOrder): boolean {
  return order === "CDAB" || order === "DCBA";
}

function textWords(order: ByteOrder, value: SimValue, length: number | undefined): number[] {
  const count = wordCount("string", length);
  const bytes = Buffer.alloc(count * 2); // NUL padding
  const text = toText(value);
  for (let i = 0; i < Math.min(text.length, bytes.length); i++) {
    const code = text.charCodeAt(i);
    bytes[i] = code < 0x80 ? code : 0x3f; // "?"
  }
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push(swapsBytes(order) ? bytes.readUInt16LE(i) : bytes.readUInt16BE(i));
  return words;
}

/** Register words for a value, first register first. `length` (registers) is for `string` only. */
export function encodeValue(type: Exclude<ValueType, "bool">, order: ByteOrder, value: SimValue, length?: number): number[] {
  if (type === "string") return textWords(order, value, length);
  const bytes = bigEndianBytes(type, value);
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2) {
    words.push(swapsBytes(order) ? bytes.readUInt16LE(i) : bytes.readUInt16BE(i));
  }
  return reversesWords(order) ? words.reverse() : words;
}

/** The inverse of encodeValue; 64-bit integers come back as bigint, a string stops at its first NUL. */
export function decodeValue(type: Exclude<ValueType, "bool">, order: ByteOrder, words: readonly number[]): number | bigint | string {
  if (type === "string") {
    const buf = Buffer.alloc(words.length * 2);
    words.forEach((word, i) => (swapsBytes(order) ? buf.writeUInt16LE(word & 0xffff, i * 2) : buf.writeUInt16BE(word & 0xffff, i * 2)));
    const end = buf.indexOf(0);
    return buf.toString("latin1", 0, end === -1 ? buf.length : end);
  }
  const count = wordCount(type);
  if (words.length !== count) throw new RangeError(`${type} needs ${count} registers, got ${words.length}`);
  const ordered = reversesWords(order) ? [...words].reverse() : [...words];
  const buf = Buffer.alloc(count * 2);
  ordered.forEach((word, i) => {
    if (swapsBytes(order)) buf.writeUInt16LE(word & 0xffff, i * 2);
    else buf.writeUInt16BE(word & 0xffff, i * 2);
  });
  switch (type) {
    case "int16":
      return buf.readInt16BE();
    case "uint16":
      return buf.readUInt16BE();
    case "int32":
      return buf.readInt32BE();
    case "uint32":
      return buf.readUInt32BE();
    case "int64":
      return buf.readBigInt64BE();
    case "uint64":
      return buf.readBigUInt64BE();
    case "float32":
      return buf.readFloatBE();
    case "float64":
      return buf.readDoubleBE();
  }
}
