import { ModbusRequestError } from "./errors.js";

/** Bytes of the MBAP header (transaction id, protocol id, length, unit id). */
export const MBAP_HEADER = 7;

/** One request ready to send: the frame (transaction id and unit id are filled in at send time). */
export interface RequestFrame {
  fc: number;
  /** Registers or bits the answer must carry (reads), or that were written. */
  quantity: number;
  address: number;
  frame: Buffer;
}

/**
 * Builds Modbus TCP request frames, checking addresses, quantities and values against the protocol's
 * limits first: a request that cannot be valid throws (kind "other") and is never sent.
 */
function newFrame(fc: number, pduLength: number, address: number): Buffer {
  const frame = Buffer.allocUnsafe(MBAP_HEADER + pduLength);
  frame[2] = 0;
  frame[3] = 0;
  frame.writeUInt16BE(pduLength + 1, 4);
  frame[7] = fc;
  frame.writeUInt16BE(address, 8);
  return frame;
}

function invalid(message: string): never {
  throw new ModbusRequestError("other", message);
}

function checkAddress(address: number, quantity: number): void {
  if (!Number.isInteger(address) || address < 0 || address + quantity > 65536) invalid(`address ${address} (+${quantity}) is outside 0..65535`);
}

function checkQuantity(n: number, max: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || n > max) invalid(`a request carries 1..${max} ${what}, got ${n}`);
}

function checkWord(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) invalid(`${what} must be 0..65535, got ${v}`);
}

/** Functions 1-4: read `quantity` bits (at most 2000) or registers (at most 125). */
export function readRequest(fc: 1 | 2 | 3 | 4, address: number, quantity: number): RequestFrame {
  checkQuantity(quantity, fc <= 2 ? 2000 : 125, fc <= 2 ? "bits" : "registers");
  checkAddress(address, quantity);
  const frame = newFrame(fc, 5, address);
  frame.writeUInt16BE(quantity, 10);
  return { fc, quantity, address, frame };
}

/** Function 5. */
export function writeCoilRequest(address: number, state: boolean): RequestFrame {
  checkAddress(address, 1);
  const frame = newFrame(5, 5, address);
  frame.writeUInt16BE(state ? 0xff00 : 0x0000, 10);
  return { fc: 5, quantity: 1, address, frame };
}

/** Function 6. */
export function writeRegisterRequest(address: number, value: number): RequestFrame {
  checkAddress(address, 1);
  checkWord(value, "value");
  const frame = newFrame(6, 5, address);
  frame.writeUInt16BE(value, 10);
  return { fc: 6, quantity: 1, address, frame };
}

/** Function 15: coils packed 8 to a byte, least significant bit first. */
export function writeCoilsRequest(address: number, states: readonly boolean[]): RequestFrame {
  const n = states.length;
  checkQuantity(n, 1968, "coils");
  checkAddress(address, n);
  const bytes = Math.ceil(n / 8);
  const frame = newFrame(15, 6 + bytes, address);
  frame.writeUInt16BE(n, 10);
  frame[12] = bytes;
  for (let b = 0; b < bytes; b++) {
    let byte = 0;
    for (let bit = 0; bit < 8 && b * 8 + bit < n; bit++) if (states[b * 8 + bit]) byte |= 1 << bit;
    frame[13 + b] = byte;
  }
  return { fc: 15, quantity: n, address, frame };
}

/** Function 16. */
export function writeRegistersRequest(address: number, values: readonly number[]): RequestFrame {
  const n = values.length;
  checkQuantity(n, 123, "registers");
  checkAddress(address, n);
  const frame = newFrame(16, 6 + 2 * n, address);
  frame.writeUInt16BE(n, 10);
  frame[12] = 2 * n;
  for (let i = 0; i < n; i++) {
    const v = values[i] ?? 0;
    checkWord(v, `value ${i}`);
    frame.writeUInt16BE(v, 13 + 2 * i);
  }
  return { fc: 16, quantity: n, address, frame };
}

/** Function 22: register = (register AND andMask) OR (orMask AND NOT andMask). */
export function maskWriteRequest(address: number, andMask: number, orMask: number): RequestFrame {
  checkAddress(address, 1);
  checkWord(andMask, "andMask");
  checkWord(orMask, "orMask");
  const frame = newFrame(22, 7, address);
  frame.writeUInt16BE(andMask, 10);
  frame.writeUInt16BE(orMask, 12);
  return { fc: 22, quantity: 1, address, frame };
}
