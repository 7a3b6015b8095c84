import { ModbusRequestError, exceptionMessage } from "./errors.js";
import { MBAP_HEADER } from "./tcp-requests.js";

export interface ReadRegistersResult {
  data: number[];
}

export interface ReadBitsResult {
  data: boolean[];
}

export interface WriteResult {
  address: number;
  /** Registers or coils written (1 for functions 5, 6 and 22). */
  quantity: number;
}

const FUNCTION_NAMES: Record<number, string> = {
  1: "read coils",
  2: "read discrete inputs",
  3: "read holding registers",
  4: "read input registers",
  5: "write single coil",
  6: "write single register",
  15: "write multiple coils",
  16: "write multiple registers",
  22: "mask write register",
};

export function functionName(fc: number): string {
  return FUNCTION_NAMES[fc] ?? `function ${fc}`;
}

/** What the answer must match: the request as it was sent. */
interface SentRequest {
  fc: number;
  quantity: number;
  address: number;
  frame: Buffer;
}

/**
 * Checks one answer PDU (at `rx[at]`, `pduLength` bytes) against the request it answers, without
 * decoding it: null when it fits, a ModbusRequestError for an exception answer, or a string saying why
 * the answer is malformed (wrong function, byte count that does not fit the quantity, a write that is
 * not echoed).
 */
export function answerProblem(p: SentRequest, rx: Buffer, at: number, pduLength: number): ModbusRequestError | string | null {
  const fc = rx[at]!;
  if (fc === (p.fc | 0x80)) {
    if (pduLength !== 2) return `exception answer of ${pduLength} bytes instead of 2`;
    const code = rx[at + 1]!;
    return new ModbusRequestError("exception", exceptionMessage(code), { modbusCode: code });
  }
  if (fc !== p.fc) return `answer has function code ${fc}`;
  switch (fc) {
    case 1:
    case 2: {
      const bytes = rx[at + 1]!;
      const expected = (p.quantity + 7) >> 3;
      if (bytes !== expected || pduLength !== 2 + bytes) return `${pduLength - 2} data bytes (byte count ${bytes}) for ${p.quantity} bits, expected ${expected}`;
      return null;
    }
    case 3:
    case 4: {
      const bytes = rx[at + 1]!;
      if (bytes !== 2 * p.quantity || pduLength !== 2 + bytes) {
        return `${pduLength - 2} data bytes (byte count ${bytes}) for ${p.quantity} registers, expected ${2 * p.quantity}`;
      }
      return null;
    }
    default: {
      // Writes answer with an echo: address and value or quantity (5, 6, 15, 16), and both masks (22).
      const echo = fc === 22 ? 6 : 4;
      if (pduLength !== 1 + echo) return `answer of ${pduLength} bytes instead of ${1 + echo}`;
      for (let i = 1; i <= echo; i++) {
        if (rx[at + i] !== p.frame[MBAP_HEADER + i]) return "the answer does not echo the request";
      }
      return null;
    }
  }
}

/**
 * Copies the `quantity` values of a checked read answer (PDU at `rx[at]`) into `into` from index 0:
 * bits (functions 1 and 2) as booleans, registers (3 and 4) as 0..65535.
 */
export function readValues(fc: number, rx: Buffer, at: number, quantity: number, into: Array<number | boolean>): void {
  const from = at + 2;
  if (fc <= 2) for (let i = 0; i < quantity; i++) into[i] = ((rx[from + (i >> 3)]! >> (i & 7)) & 1) === 1;
  else for (let i = 0, o = from; i < quantity; i++, o += 2) into[i] = (rx[o]! << 8) | rx[o + 1]!;
}
