import type Database from "better-sqlite3";

/**
 * Schema migrations, applied in order on open. `PRAGMA user_version` holds how many have run; each
 * runs in its own transaction, so a crash mid-migration leaves the previous, consistent version.
 * Append new steps; never edit one that has shipped.
 */
const migrations: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      -- AUTOINCREMENT: SQLite then never reuses a seq, even after the table drains to empty.
      CREATE TABLE outbox (
        seq  INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('telemetry', 'event', 'alarm')),
        ts   INTEGER NOT NULL,
        body TEXT NOT NULL
      ) STRICT;
      CREATE INDEX outbox_kind_seq ON outbox (kind, seq);
    `);
  },
];

export function migrate(db: Database.Database): { from: number; to: number } {
  const from = db.pragma("user_version", { simple: true }) as number;
  if (from > migrations.length) {
    throw new Error(
      `database schema version ${from} is newer than this agent knows (${migrations.length}); refusing to touch it`,
    );
  }
  for (let v = from; v < migrations.length; v++) {
    const step = migrations[v];
    if (!step) break;
    db.transaction(() => {
      step(db);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return { from, to: migrations.length };
}
