import type { Logger } from "../../edge/logger.js";
import { errorMessage } from "../../edge/errors.js";

export interface ShutdownOptions {
  logger: Logger;
  stop: () => Promise<void>;
  /** Longest a clean stop may take before the process exits anyway. */
  stopTimeoutMs?: number;
}

/**
 * SIGINT/SIGTERM stop the agent cleanly and exit 0; a second signal exits at once. When the agent was
 * started by `edge-agent sim` (an IPC channel exists), losing the parent stops it too, so a killed
 * simulator mode never leaves an orphan agent holding the API port.
 */
export function installShutdownHandlers({ logger, stop, stopTimeoutMs = 15_000 }: ShutdownOptions): void {
  let stopping = false;
  const begin = (why: string) => {
    if (stopping) {
      logger.warn({ why }, "second stop request: exiting now without a clean stop");
      process.exit(130);
    }
    stopping = true;
    logger.info({ why }, "stopping (send the signal again to force)");
    const force = setTimeout(() => {
      logger.error({ stopTimeoutMs }, "clean stop took too long; exiting");
      process.exit(1);
    }, stopTimeoutMs);
    force.unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err: errorMessage(err) }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => begin("SIGINT"));
  process.on("SIGTERM", () => begin("SIGTERM"));
  if (process.send) process.on("disconnect", () => begin("parent process gone"));
}

/**
 * A stray exception from a library callback (a device sending garbage, a socket event) is logged and
 * survived: one misbehaving machine must not stop a gateway. A burst of them means the process is in a
 * bad state, and exiting lets the supervisor (systemd, the sim mode) restart it cleanly.
 */
export function installCrashGuards(logger: Logger, limit = 10, windowMs = 60_000): void {
  const recent: number[] = [];
  process.on("uncaughtException", (err) => {
    const now = Date.now();
    recent.push(now);
    while (recent.length > 0 && (recent[0] ?? now) < now - windowMs) recent.shift();
    logger.error({ err }, "uncaught exception (survived)");
    if (recent.length >= limit) {
      logger.fatal({ count: recent.length, windowMs }, "too many uncaught exceptions; exiting so the supervisor restarts the agent");
      process.exit(70);
    }
  });
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: errorMessage(reason) }, "unhandled promise rejection (survived)");
  });
}
