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

/**
 * A response buffer: `headroom` zeroed bytes the transport fills with its header (7 for the MBAP
 * header, so a TCP reply is one allocation), then `length` bytes of PDU that the caller fills.
 */
function allocReply(headroom: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(headroom + length);
  for (let i = 0; i < headroom; i++) out[i] = 0;
  return out;
}

export function exceptionPdu(functionCode: number, code: ExceptionCode, headroom = 0): Buffer {
  const out = allocReply(headroom, 2);
  out[headroom] = (functionCode | 0x80) & 0xff;
  out[headroom + 1] = code;
  return out;
}

export function isExceptionPdu(pdu: Buffer): boolean {
  return pdu.length > 0 && (pdu[0] ?? 0) >= 0x80;
}

/** A copy of the request's first `length` bytes: the normal response of the write functions echoes them. */
function echo(pdu: Buffer, length: number, headroom: number): Buffer {
  const out = allocReply(headroom, length);
  pdu.copy(out, headroom, 0, length);
  return out;
}

function outOfRange(address: number, quantity: number): boolean {
  return address + quantity > TABLE_SIZE;
}

function readBits(fc: number, table: BitTable, pdu: Buffer, memory: UnitMemory, headroom: number): Buffer {
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  if (quantity < 1 || quantity > Limits.readBits) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress, headroom);
  const byteCount = Math.ceil(quantity / 8);
  const out = allocReply(headroom, 2 + byteCount);
  out[headroom] = fc;
  out[headroom + 1] = byteCount;
  memory.readBitsInto(table, address, quantity, out, headroom + 2); // unused high bits of the last byte are 0, as the spec asks
  return out;
}

function readRegisters(fc: number, table: RegisterTable, pdu: Buffer, memory: UnitMemory, headroom: number): Buffer {
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  if (quantity < 1 || quantity > Limits.readRegisters) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress, headroom);
  const out = allocReply(headroom, 2 + quantity * 2);
  out[headroom] = fc;
  out[headroom + 1] = quantity * 2;
  memory.readWordsInto(table, address, quantity, out, headroom + 2);
  return out;
}

function writeSingleCoil(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener, headroom: number): Buffer {
  const fc = FunctionCode.WriteSingleCoil;
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  const address = pdu.readUInt16BE(1);
  const value = pdu.readUInt16BE(3);
  // Only two encodings are legal: 0xFF00 = on, 0x0000 = off.
  if (value !== 0xff00 && value !== 0x0000) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  memory.writeBits("coil", address, [value === 0xff00]);
  onWrite("coil", address, 1);
  return echo(pdu, 5, headroom); // the normal response echoes the request
}

function writeSingleRegister(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener, headroom: number): Buffer {
  const fc = FunctionCode.WriteSingleRegister;
  if (pdu.length !== 5) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  const address = pdu.readUInt16BE(1);
  memory.writeWords("holding", address, [pdu.readUInt16BE(3)]);
  onWrite("holding", address, 1);
  return echo(pdu, 5, headroom);
}

function writeMultipleCoils(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener, headroom: number): Buffer {
  const fc = FunctionCode.WriteMultipleCoils;
  if (pdu.length < 6) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  const byteCount = pdu.readUInt8(5);
  if (quantity < 1 || quantity > Limits.writeCoils || byteCount !== Math.ceil(quantity / 8) || pdu.length !== 6 + byteCount) {
    return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  }
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress, headroom);
  const bits: boolean[] = [];
  for (let i = 0; i < quantity; i++) bits.push((((pdu[6 + (i >> 3)] ?? 0) >> (i & 7)) & 1) === 1);
  memory.writeBits("coil", address, bits);
  onWrite("coil", address, quantity);
  return echo(pdu, 5, headroom);
}

function writeMultipleRegisters(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener, headroom: number): Buffer {
  const fc = FunctionCode.WriteMultipleRegisters;
  if (pdu.length < 6) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  const byteCount = pdu.readUInt8(5);
  if (quantity < 1 || quantity > Limits.writeRegisters || byteCount !== quantity * 2 || pdu.length !== 6 + byteCount) {
    return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  }
  if (outOfRange(address, quantity)) return exceptionPdu(fc, ExceptionCode.IllegalDataAddress, headroom);
  const words: number[] = [];
  for (let i = 0; i < quantity; i++) words.push(pdu.readUInt16BE(6 + i * 2));
  memory.writeWords("holding", address, words);
  onWrite("holding", address, quantity);
  return echo(pdu, 5, headroom);
}

/** Function 22: result = (current AND andMask) OR (orMask AND NOT andMask); the response echoes the request. */
function maskWriteRegister(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener, headroom: number): Buffer {
  const fc = FunctionCode.MaskWriteRegister;
  if (pdu.length !== 7) return exceptionPdu(fc, ExceptionCode.IllegalDataValue, headroom);
  const address = pdu.readUInt16BE(1);
  const andMask = pdu.readUInt16BE(3);
  const orMask = pdu.readUInt16BE(5);
  const current = memory.readWords("holding", address, 1)[0] ?? 0;
  memory.writeWords("holding", address, [((current & andMask) | (orMask & ~andMask)) & 0xffff]);
  onWrite("holding", address, 1);
  return echo(pdu, 7, headroom);
}

/**
 * Serves one request PDU against one unit's memory and returns the response PDU (normal or
 * exception), preceded by `headroom` zeroed bytes for the transport's header (0: just the PDU).
 * `pdu` is only read during the call, so it may be a view into a receive buffer.
 */
export function handlePdu(pdu: Buffer, memory: UnitMemory, onWrite: WriteListener, headroom = 0): Buffer {
  const fc = pdu[0] ?? 0;
  switch (fc) {
    case FunctionCode.ReadCoils:
      return readBits(fc, "coil", pdu, memory, headroom);
    case FunctionCode.ReadDiscreteInputs:
      return readBits(fc, "discrete", pdu, memory, headroom);
    case FunctionCode.ReadHoldingRegisters:
      return readRegisters(fc, "holding", pdu, memory, headroom);
    case FunctionCode.ReadInputRegisters:
      return readRegisters(fc, "input", pdu, memory, headroom);
    case FunctionCode.WriteSingleCoil:
      return writeSingleCoil(pdu, memory, onWrite, headroom);
    case FunctionCode.WriteSingleRegister:
      return writeSingleRegister(pdu, memory, onWrite, headroom);
    case FunctionCode.WriteMultipleCoils:
      return writeMultipleCoils(pdu, memory, onWrite, headroom);
    case FunctionCode.WriteMultipleRegisters:
      return writeMultipleRegisters(pdu, memory, onWrite, headroom);
    case FunctionCode.MaskWriteRegister:
      return maskWriteRegister(pdu, memory, onWrite, headroom);
    default:
      return exceptionPdu(fc, ExceptionCode.IllegalFunction, headroom);
  }
}
