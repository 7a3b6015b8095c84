import { errorMessage } from "../../errors.js";

/** What went wrong with a request, as counted in status. */
export type ModbusErrorKind = "timeout" | "exception" | "crc" | "connection" | "other";

export interface ClassifiedError {
  kind: ModbusErrorKind;
  message: string;
  /** Worth another attempt on the same connection (a lost or garbled frame); exceptions are answers, not retried. */
  retryable: boolean;
}

const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT_CONNECT"]);

/** Sorts modbus-serial's errors (plain Errors with errno/modbusCode fields, or strings) into kinds. */
export function classifyModbusError(err: unknown): ClassifiedError {
  const message = errorMessage(err);
  const e = (typeof err === "object" && err !== null ? err : {}) as { modbusCode?: unknown; errno?: unknown; code?: unknown; name?: unknown };
  if (typeof e.modbusCode === "number") return { kind: "exception", message, retryable: false };
  if (e.errno === "ETIMEDOUT" || e.name === "TransactionTimedOutError" || /timed out/i.test(message)) return { kind: "timeout", message, retryable: true };
  if (/crc/i.test(message)) return { kind: "crc", message, retryable: true };
  const code = typeof e.code === "string" ? e.code : typeof e.errno === "string" ? e.errno : "";
  if (CONNECTION_CODES.has(code) || /port not open|not connected|closed|ECONN/i.test(message)) return { kind: "connection", message, retryable: false };
  return { kind: "other", message, retryable: false };
}
