import { pino } from "pino";
import type { Logger } from "../../edge/logger.js";

/** A silent logger for components under test (set EDGE_TEST_LOG=debug to see their lines). */
export function testLogger(): Logger {
  return pino({ level: process.env.EDGE_TEST_LOG ?? "silent" });
}

export interface LogLine {
  level: number;
  msg?: string;
  [key: string]: unknown;
}

/** A logger that keeps every line it writes, parsed, for tests that assert what was said. */
export function capturingLogger(level = "debug"): { logger: Logger; lines(): LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level }, { write: (text: string) => void lines.push(JSON.parse(text) as LogLine) });
  return { logger, lines: () => lines };
}
