import { errorMessage } from "../../errors.js";

/**
 * What went wrong with a request, as counted in status: `crc` is a serial (RTU) frame whose checksum
 * failed; `corrupt` is a Modbus TCP answer that arrived but does not fit its request (wrong function
 * code, byte count or echo, or a frame header the stream cannot be re-synchronised after).
 */
export type ModbusErrorKind = "timeout" | "exception" | "crc" | "corrupt" | "connection" | "other";

export interface ClassifiedError {
  kind: ModbusErrorKind;
  message: string;
  /** Worth another attempt on the same connection (a lost or garbled frame); exceptions are answers, not retried. */
  retryable: boolean;
}

/** Names of the exception codes of the Modbus application protocol (V1.1b3, section 7). */
const EXCEPTION_NAMES: Record<number, string> = {
  1: "Illegal function (the device does not support this function)",
  2: "Illegal data address (the device has no such register or coil)",
  3: "Illegal data value (the device refuses this value or quantity)",
  4: "Server device failure (the device reports an internal error)",
  5: "Acknowledge (the device accepted the request and is still working on it)",
  6: "Server device busy (retry later)",
  7: "Negative acknowledge",
  8: "Memory parity error",
  10: "Gateway path unavailable (misconfigured gateway)",
  11: "Gateway target device failed to respond",
};

/** `Modbus exception 0x0B (11): Gateway target device failed to respond`. */
export function exceptionMessage(code: number): string {
  const hex = `0x${code.toString(16).toUpperCase().padStart(2, "0")}`;
  return `Modbus exception ${hex} (${code}): ${EXCEPTION_NAMES[code] ?? "unknown exception code"}`;
}

/**
 * A failed request from our own Modbus TCP client: the kind is decided where the failure is seen,
 * not guessed from the message. `modbusCode` is set for exception responses, `code` for socket errors.
 */
export class ModbusRequestError extends Error {
  readonly kind: ModbusErrorKind;
  readonly modbusCode: number | undefined;
  readonly code: string | undefined;

  constructor(kind: ModbusErrorKind, message: string, options: { modbusCode?: number; code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ModbusRequestError";
    this.kind = kind;
    this.modbusCode = options.modbusCode;
    this.code = options.code;
  }
}

const RETRYABLE: Record<ModbusErrorKind, boolean> = { timeout: true, crc: true, corrupt: true, exception: false, connection: false, other: false };

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT_CONNECT"]);

/**
 * Sorts request errors into kinds: our TCP client's ModbusRequestError carries its kind; modbus-serial's
 * errors (plain Errors with errno/modbusCode fields, or strings) are recognised by their fields and text.
 */
export function classifyModbusError(err: unknown): ClassifiedError {
  const message = errorMessage(err);
  if (err instanceof ModbusRequestError) return { kind: err.kind, message, retryable: RETRYABLE[err.kind] };
  const e = (typeof err === "object" && err !== null ? err : {}) as { modbusCode?: unknown; errno?: unknown; code?: unknown; name?: unknown };
  if (typeof e.modbusCode === "number") return { kind: "exception", message, retryable: false };
  if (e.errno === "ETIMEDOUT" || e.name === "TransactionTimedOutError" || /timed out/i.test(message)) return { kind: "timeout", message, retryable: true };
  if (/crc/i.test(message)) return { kind: "crc", message, retryable: true };
  const code = typeof e.code === "string" ? e.code : typeof e.errno === "string" ? e.errno : "";
  if (CONNECTION_CODES.has(code) || /port not open|not connected|closed|ECONN/i.test(message)) return { kind: "connection", message, retryable: false };
  return { kind: "other", message, retryable: false };
}
