import type Database from "better-sqlite3";
import { systemClock, type Clock } from "../model.js";
import { migrate } from "../store/migrations.js";
import type { Alarm, AlarmState, AlarmStore, PointValues } from "./alarms.js";
import type { Severity } from "./schema.js";

interface AlarmRow {
  id: number;
  rule: string;
  severity: string;
  state: string;
  message: string;
  raised_at: number;
  ack_at: number | null;
  ack_by: string | null;
  cleared_at: number | null;
  raise_values: string;
  clear_values: string | null;
  /** Added by a later migration: null in rows written before it. */
  clear_reason: string | null;
}

function fromRow(r: AlarmRow): Alarm {
  return {
    id: r.id,
    rule: r.rule,
    severity: r.severity as Severity,
    state: r.state as AlarmState,
    message: r.message,
    raisedAt: r.raised_at,
    ackAt: r.ack_at,
    ackBy: r.ack_by,
    clearedAt: r.cleared_at,
    values: JSON.parse(r.raise_values) as PointValues,
    clearValues: r.clear_values === null ? null : (JSON.parse(r.clear_values) as PointValues),
    clearReason: r.clear_reason ?? null,
  };
}

/** How many closed alarms (state `cleared`) the table keeps; open ones are never deleted. */
export interface AlarmRetention {
  /** The newest this many closed alarms are kept (by id, i.e. by when they were raised). */
  maxClosed: number;
  /** Closed alarms that closed longer ago than this are deleted (ms). */
  maxClosedAgeMs: number;
}

export const DEFAULT_ALARM_RETENTION: Readonly<AlarmRetention> = { maxClosed: 10_000, maxClosedAgeMs: 90 * 86_400_000 };

/**
 * Least time between two retention passes triggered by inserts (ms of alarm time): an alarm storm
 * costs one pass, not one per alarm. The bound can be exceeded by the alarms of the last minute.
 */
const PRUNE_EVERY_MS = 60_000;

export interface SqliteAlarmStoreOptions {
  retention?: Partial<AlarmRetention>;
  /** Time of the retention pass made when the store opens. Default: the system clock. */
  clock?: Clock;
}

/**
 * Alarms in the agent's SQLite file (table `alarms`, created by a migration step), so active and
 * unacknowledged alarms survive restarts. Takes an open handle: the runtime shares its database.
 * Closed alarms are history only: they are deleted by count and age (AlarmRetention) when the store
 * opens and, at most once a minute, when an alarm is inserted, so the table cannot grow without
 * limit (the store's byte bound covers only the outbox and history tables).
 */
export class SqliteAlarmStore implements AlarmStore {
  private readonly ins: Database.Statement;
  private readonly upd: Database.Statement;
  private readonly one: Database.Statement<[number], AlarmRow>;
  private readonly openRows: Database.Statement<[], AlarmRow>;
  private readonly recentRows: Database.Statement<[number], AlarmRow>;

  private readonly pruneAge: Database.Statement<[{ cutoff: number }]>;
  private readonly pruneCount: Database.Statement<[{ keep: number }]>;
  private readonly retention: AlarmRetention;
  /** Alarm time of the last retention pass (NaN: none yet). */
  private lastPrune = Number.NaN;

  constructor(
    private readonly db: Database.Database,
    options: SqliteAlarmStoreOptions = {},
  ) {
    // Idempotent: a no-op when the outbox already migrated this file.
    migrate(db);
    this.retention = { ...DEFAULT_ALARM_RETENTION, ...options.retention };
    this.ins = db.prepare(
      `INSERT INTO alarms (rule, severity, state, message, raised_at, ack_at, ack_by, cleared_at, raise_values, clear_values, clear_reason)
       VALUES (@rule, @severity, @state, @message, @raisedAt, @ackAt, @ackBy, @clearedAt, @values, @clearValues, @clearReason)`,
    );
    this.upd = db.prepare(
      "UPDATE alarms SET state = @state, ack_at = @ackAt, ack_by = @ackBy, cleared_at = @clearedAt, clear_values = @clearValues, clear_reason = @clearReason WHERE id = @id",
    );
    this.one = db.prepare("SELECT * FROM alarms WHERE id = ?");
    this.openRows = db.prepare("SELECT * FROM alarms WHERE state <> 'cleared' ORDER BY id");
    this.recentRows = db.prepare("SELECT * FROM alarms ORDER BY id DESC LIMIT ?");
    // A closed alarm closed when both the rule cleared it and an operator acknowledged it, whichever
    // came last; both times are set in state 'cleared' (coalesce only guards rows written by hand).
    this.pruneAge = db.prepare("DELETE FROM alarms WHERE state = 'cleared' AND max(coalesce(cleared_at, 0), coalesce(ack_at, 0)) < @cutoff");
    // Everything at or below the id of the (keep + 1)-th newest closed alarm; none when there are fewer.
    this.pruneCount = db.prepare(
      "DELETE FROM alarms WHERE state = 'cleared' AND id <= (SELECT id FROM alarms WHERE state = 'cleared' ORDER BY id DESC LIMIT 1 OFFSET @keep)",
    );
    this.prune((options.clock ?? systemClock)());
  }

  insert(alarm: Omit<Alarm, "id">): Alarm {
    const info = this.ins.run({
      ...alarm,
      values: JSON.stringify(alarm.values),
      clearValues: alarm.clearValues === null ? null : JSON.stringify(alarm.clearValues),
    });
    // Every alarm raised ends up closed: the inserts are what grows the table, so they drive the pass.
    const now = alarm.raisedAt;
    if (!(Math.abs(now - this.lastPrune) < PRUNE_EVERY_MS)) this.prune(now);
    return { ...alarm, id: Number(info.lastInsertRowid) };
  }

  /** Deletes the closed alarms beyond the retention (count and age at `now`); returns how many. */
  prune(now: number): number {
    this.lastPrune = now;
    const { maxClosed, maxClosedAgeMs } = this.retention;
    return this.db.transaction(() => {
      let n = this.pruneAge.run({ cutoff: now - maxClosedAgeMs }).changes;
      n += this.pruneCount.run({ keep: Math.max(0, Math.floor(maxClosed)) }).changes;
      return n;
    })();
  }

  update(alarm: Alarm): void {
    this.upd.run({
      id: alarm.id,
      state: alarm.state,
      ackAt: alarm.ackAt,
      ackBy: alarm.ackBy,
      clearedAt: alarm.clearedAt,
      clearValues: alarm.clearValues === null ? null : JSON.stringify(alarm.clearValues),
      clearReason: alarm.clearReason,
    });
  }

  get(id: number): Alarm | undefined {
    const r = this.one.get(id);
    return r ? fromRow(r) : undefined;
  }

  open(): Alarm[] {
    return this.openRows.all().map(fromRow);
  }

  recent(limit: number): Alarm[] {
    return this.recentRows.all(limit).map(fromRow);
  }
}
