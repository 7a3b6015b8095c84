import { createRequire } from "node:module";
import { pino, type Level } from "pino";
import type pinoPretty from "pino-pretty";
import type { Logger } from "../edge/logger.js";

export type LogLevel = Level;

export interface LoggerOptions {
  level: LogLevel;
  /** Pretty, coloured lines for people; JSON lines (for journald and log shippers) otherwise. */
  pretty?: boolean;
  /** Tag for every line, e.g. the process role ("agent", "sim"). */
  name?: string;
}

/**
 * The process logger. JSON by default; pretty on a TTY (or when forced). Pretty printing runs in this
 * thread, synchronously, so lines keep their order with the CLI's own output and none are lost on exit.
 * Components take `logger.child({ component })` so every line says where it came from.
 */
export function createLogger(options: LoggerOptions): Logger {
  const usePretty = options.pretty ?? (process.stdout.isTTY === true && process.env.EDGE_LOG_FORMAT !== "json");
  const base = { level: options.level, name: options.name, base: { pid: process.pid } };
  if (!usePretty) return pino(base);
  // Loaded only for a terminal: a gateway logging JSON to journald never pays for it.
  const pretty = createRequire(import.meta.url)("pino-pretty") as typeof pinoPretty;
  return pino(base, pretty({ colorize: true, sync: true, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" }));
}
