/**
 * Modbus PDUs (function code + data) for the eight public function codes, checked in the order the
 * spec's server state diagrams use: function code (exception 01), then quantity / framing
 * (03), then address range (02), then execute.
 */
import { TABLE_SIZE, type BitTable, type RegisterTable, type UnitMemory } from "./memory.js";

export const ExceptionCode = {
  IllegalFunction: 0x01,
  IllegalDataAddress: 0x02,
  IllegalDataValue: 0x03,
  ServerDeviceFailure: 0x04,
  /** Used for a unit id the profile doesn't define, as a TCP gateway does for a silent serial slave. */
  GatewayTargetFailedToRespond: 0x0b,
} as const;
export type ExceptionCode = (typeof ExceptionCode)[keyof typeof ExceptionCode];

export const FunctionCode = {
  ReadCoils: 1,
  ReadDiscreteInputs: 2,
  ReadHoldingRegisters: 3,
  ReadInputRegisters: 4,
  WriteSingleCoil: 5,
  WriteSingleRegister: 6,
  WriteMultipleCoils: 15,
  WriteMultipleRegisters: 16,
  MaskWriteRegister: 22,
} as const;

/** Quantity limits from the spec: what fits in a 253-byte PDU. */
export const Limits = {
  readBits: 2000,
  readRegisters: 125,
  writeCoils: 1968,
  writeRegisters: 123,
} as const;

export type WriteListener = (table: "holding" | "coil", address: number, count: number) => void;

export function exceptionPdu(functionCode: number, code: ExceptionCode): Buffer {
  return Buffer.from([(functionCode | 0x80) & 0xff, code]);
}

export function isExceptionPdu(pdu: Buffer): boolean {
  return pdu.length > 0 && (pdu[0] ?? 0) >= 0x80;
}

function outOfRange(address: number, quantity: number): boolean {
  return address + quantity > TABLE_SIZE;
}

function readBits(fc: number, table: BitTable, pdu: Buffer, memory: UnitMemory): Buffer {
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  if (quantity < 1 || quantity > Limits.readBits) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress);
  const bits = memory.readBits(table, address, quantity);
  const byteCount = Math.ceil(quantity / 8);
  const out = Buffer.alloc(2 + byteCount); // unused high bits of the last byte stay 0, as the spec asks
  out[0] = fc;
  out[1] = byteCount;
  bits.forEach((bit, i) => {
    if (bit) out[2 + (i >> 3)] = (out[2 + (i >> 3)] ?? 0) | (1 << (i & 7));
  });
  return out;
}

function readRegisters(fc: number, table: RegisterTable, pdu: Buffer, memory: UnitMemory): Buffer {
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  if (quantity < 1 || quantity > Limits.readRegisters) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress);
  const words = memory.readWords(table, address, quantity);
  const out = Buffer.alloc(2 + quantity * 2);
  out[0] = fc;
  out[1] = quantity * 2;
  words.forEach((word, i) => out.writeUInt16BE(word, 2 + i * 2));
  return out;
}

function writeSingleCoil(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener): Buffer {
  const fc = FunctionCode.WriteSingleCoil;
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  const address = pdu.readUInt16BE(1);
  const value = pdu.readUInt16BE(3);
  // Only two encodings are legal: 0xFF00 = on, 0x0000 = off.
  if (value !== 0xff00 && value !== 0x0000) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  memory.writeBits("coil", address, [value === 0xff00]);
  onWrite("coil", address, 1);
  return Buffer.from(pdu); // the normal response echoes the request
}

function writeSingleRegister(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener): Buffer {
  const fc = FunctionCode.WriteSingleRegister;
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  const address = pdu.readUInt16BE(1);
  memory.writeWords("holding", address, [pdu.readUInt16BE(3)]);
  onWrite("holding", address, 1);
  return Buffer.from(pdu);
}

function writeMultipleCoils(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener): Buffer {
  const fc = FunctionCode.WriteMultipleCoils;
  if (pdu.length < 6) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  const byteCount = pdu.readUInt8(5);
  if (quantity < 1 || quantity > Limits.writeCoils || byteCount !== Math.ceil(quantity / 8) || pdu.length !== 6 + byteCount) {
    return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  }
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress);
  const bits: boolean[] = [];
  for (let i = 0; i < quantity; i++) bits.push((((pdu[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1) === 1);
  memory.writeBits("coil", address, bits);
  onWrite("coil", address, quantity);
  return Buffer.from(pdu.subarray(0, 5));
}

function writeMultipleRegisters(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener): Buffer {
  const fc = FunctionCode.WriteMultipleRegisters;
  if (pdu.length < 6) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  const byteCount = pdu.readUInt8(5);
  if (quantity < 1 || quantity > Limits.writeRegisters || byteCount !== quantity * 2 || pdu.length !== 6 + byteCount) {
    return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  }
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress);
  const words: number[] = [];
  for (let i = 0; i < quantity; i++) words.push(pdu.readUInt16BE(6 + i * 2));
  memory.writeWords("holding", address, words);
  onWrite("holding", address, quantity);
  return Buffer.from(pdu.subarray(0, 5));
}

/** Function 22: result = (current AND andMask) OR (orMask AND NOT andMask); the response echoes the request. */
function maskWriteRegister(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener): Buffer {
  const fc = FunctionCode.MaskWriteRegister;
  if (pdu.length !== 7) return exceptionPdu(fc, ExceptionCode.IllegalDataValue);
  const address = pdu.readUInt16BE(1);
  const andMask = pdu.readUInt16BE(3);
  const orMask = pdu.readUInt16BE(5);
  const current = memory.readWords("holding", address, 1)[0] ?? 0;
  memory.writeWords("holding", address, [((current & andMask) | (orMask & ~andMask)) & 0xffff]);
  onWrite("holding", address, 1);
  return Buffer.from(pdu);
}

/** Serves one request PDU against one unit's memory and returns the response PDU (normal or exception). */
export function handlePdu(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener): Buffer {
  const fc = pdu[0] ?? 0;
  switch (fc) {
    case FunctionCode.ReadCoils:
      return readBits(fc, "coil", pdu, memory);
    case FunctionCode.ReadDiscreteInputs:
      return readBits(fc, "discrete", pdu, memory);
    case FunctionCode.ReadHoldingRegisters:
      return readRegisters(fc, "holding", pdu, memory);
    case FunctionCode.ReadInputRegisters:
      return readRegisters(fc, "input", pdu, memory);
    case FunctionCode.WriteSingleCoil:
      return writeSingleCoil(pdu, memory, onWrite);
    case FunctionCode.WriteSingleRegister:
      return writeSingleRegister(pdu, memory, onWrite);
    case FunctionCode.WriteMultipleCoils:
      return writeMultipleCoils(pdu, memory, onWrite);
    case FunctionCode.WriteMultipleRegisters:
      return writeMultipleRegisters(pdu, memory, onWrite);
    case FunctionCode.MaskWriteRegister:
      return maskWriteRegister(pdu, memory, onWrite);
    default:
      return exceptionPdu(fc, ExceptionCode.IllegalFunction);
  }
}
