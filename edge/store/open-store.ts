import { existsSync, renameSync } from "node:fs";
import type { Logger } from "../logger.js";
import { EdgeError, errorMessage } from "../errors.js";
import { SqliteOutbox, type SqliteOutboxOptions } from "./sqlite-outbox.js";

/** SQLite says the file is not a database it can use: damaged, not SQLite, or a schema it does not know. */
function isUnusableFile(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | null)?.code;
  if (code === "SQLITE_CORRUPT" || code === "SQLITE_NOTADB") return true;
  const message = errorMessage(cause);
  return /no such (column|table)|has no column named|newer than this agent knows|malformed/i.test(message);
}

/**
 * Opens the store; a database file that is damaged or from an incompatible version is moved aside
 * (never deleted: `<file>.unusable-<time>` with its -wal and -shm) and a fresh one is started, with a
 * loud log line. An agent that refused to start on it would crash-loop and lose every new reading;
 * a fresh database gets a new epoch, so consumers cannot mistake its seqs for old ones. Disk-level
 * errors (full, read-only, permissions) are not the file's fault and are thrown as they are.
 */
export function openOutbox(options: SqliteOutboxOptions, logger: Logger): SqliteOutbox {
  try {
    return new SqliteOutbox(options);
  } catch (err) {
    if (!(err instanceof EdgeError) || !isUnusableFile(err.cause)) throw err;
    const aside = `${options.path}.unusable-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    for (const suffix of ["", "-wal", "-shm"]) {
      if (existsSync(options.path + suffix)) renameSync(options.path + suffix, aside + suffix);
    }
    logger.error(
      { path: options.path, movedTo: aside, reason: errorMessage(err.cause) },
      "the store could not be used (damaged or from an incompatible version): moved it aside and started a fresh one; the old file is kept for inspection",
    );
    return new SqliteOutbox(options);
  }
}
