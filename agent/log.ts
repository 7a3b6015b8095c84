import { createRequire } from "node:module";
import { pino, type Level, type LevelWithSilent } from "pino";
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

/** What the local API may do to the process's log level at run time. */
export interface LogLevelControl {
  /** "silent" only when the process was started that way (tests); it cannot be set through the API. */
  get(): LevelWithSilent;
  /** Applies `level` to the root logger and, through it, to every child logger; returns the old level. */
  set(level: LogLevel): LevelWithSilent;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const satisfies readonly LogLevel[];

/**
 * Run-time level changes for the process logger. pino builds a child with `Object.create(parent)`, so
 * a child that was never given a level of its own reads the level methods through its prototype chain:
 * setting `level` on the root reaches every such child, including those created earlier. That is why
 * components must call `logger.child(bindings)` without a `level` option (none does): a child with its
 * own level would stay where it was. The change lasts until the process restarts.
 */
export function logLevelControl(root: Logger): LogLevelControl {
  return {
    get: () => root.level as LevelWithSilent,
    set(level) {
      const previous = root.level as LevelWithSilent;
      if (previous === level) return previous;
      const say = () => root.info({ from: previous, to: level }, "log level changed");
      // Said at info either way: before the switch when the new level hides info, after it otherwise.
      const rank = (l: string) => root.levels.values[l] ?? 0;
      if (rank(level) > rank("info")) {
        say();
        root.level = level;
      } else {
        root.level = level;
        say();
      }
      return previous;
    },
  };
}
