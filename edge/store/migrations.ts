import type Database from "better-sqlite3";

/**
 * Schema migrations, applied in order on open. `PRAGMA user_version` holds how many have run; each
 * runs in its own transaction, so a crash mid-migration leaves the previous, consistent version.
 * Append new steps; never edit one that has shipped in a release.
 */
const migrations: ReadonlyArray<(db: Database.Database) => void> = [
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
      -- One row per stored batch: records first_seq .. first_seq + count - 1. The seq counter lives in
      -- meta ('next_seq') and only grows, so a seq is never reused, even after the outbox drains.
      CREATE TABLE outbox (
        first_seq INTEGER PRIMARY KEY,
        count     INTEGER NOT NULL CHECK (count > 0),
        kind      TEXT NOT NULL CHECK (kind IN ('telemetry', 'event', 'alarm')),
        ts        INTEGER NOT NULL, -- the newest record's time: the age bound drops a row once all of it is old
        body      TEXT NOT NULL
      ) STRICT;
      CREATE INDEX outbox_kind ON outbox (kind, first_seq);
    `);
  },
  (db) => {
    db.exec(`
      -- The local history: the same telemetry rows as the outbox, written in the same transaction, but
      -- kept after the broker acknowledged them (rule dry runs and charts read it), with its own
      -- retention by age and bytes. 'bytes' is the body's size, so the byte bound needs no table scan.
      CREATE TABLE history (
        first_seq INTEGER PRIMARY KEY,
        count     INTEGER NOT NULL CHECK (count > 0),
        ts_min    INTEGER NOT NULL,
        ts_max    INTEGER NOT NULL,
        bytes     INTEGER NOT NULL,
        body      TEXT NOT NULL
      ) STRICT;
      CREATE INDEX history_ts ON history (ts_max);
    `);
  },
  // Rule alarms (edge/rules/sqlite-alarm-store.ts): kept until closed and beyond, so active and
  // unacknowledged alarms survive a restart and the API can list recent history.
  (db) => {
    db.exec(`
      CREATE TABLE alarms (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        rule         TEXT NOT NULL,
        severity     TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('active', 'acknowledged', 'cleared-unacknowledged', 'cleared')),
        message      TEXT NOT NULL,
        raised_at    INTEGER NOT NULL,
        ack_at       INTEGER,
        ack_by       TEXT,
        cleared_at   INTEGER,
        raise_values TEXT NOT NULL, -- JSON object: point id -> value (null = Unknown) when raised
        clear_values TEXT           -- the same when cleared
      ) STRICT;
      CREATE INDEX alarms_open ON alarms (state) WHERE state <> 'cleared';
    `);
  },
  // Rules managed through the local API (agent/rules/rule-store.ts): their definitions, and the
  // enabled/disabled switch an operator set on any rule (config or API), so both survive a restart.
  (db) => {
    db.exec(`
      CREATE TABLE api_rules (
        id         TEXT PRIMARY KEY,
        json       TEXT NOT NULL, -- the rule as the API accepted it (ruleSchema input)
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE rule_switches (
        id         TEXT PRIMARY KEY, -- a rule id from the config file or api_rules
        enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        updated_at INTEGER NOT NULL
      ) STRICT;
    `);
  },
  // Why an alarm cleared when its rule's condition did not clear it (rule removed from the set, disabled).
  (db) => {
    db.exec("ALTER TABLE alarms ADD COLUMN clear_reason TEXT;");
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
