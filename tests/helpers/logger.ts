import { pino } from "pino";
import type { Logger } from "../../edge/logger.js";

/** A silent logger for components under test (set EDGE_TEST_LOG=debug to see their lines). */
export function testLogger(): Logger {
  return pino({ level: process.env.EDGE_TEST_LOG ?? "silent" });
}
