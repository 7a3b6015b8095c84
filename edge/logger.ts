import type { Logger as PinoLogger } from "pino";

/**
 * The logger type the data plane accepts. It is pino's, so components can call `child()` to carry
 * their context; the agent decides where the lines go (JSON to stdout, pretty on a TTY).
 */
export type Logger = PinoLogger;
