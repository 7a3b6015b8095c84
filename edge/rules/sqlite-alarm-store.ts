import type Database from "better-sqlite3";
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

/**
 * Alarms in the agent's SQLite file (table `alarms`, created by a migration step), so active and
 * unacknowledged alarms survive restarts. Takes an open handle: the runtime shares its database.
 */
export class SqliteAlarmStore implements AlarmStore {
  private readonly ins: Database.Statement;
  private readonly upd: Database.Statement;
  private readonly one: Database.Statement<[number], AlarmRow>;
  private readonly openRows: Database.Statement<[], AlarmRow>;
  private readonly recentRows: Database.Statement<[number], AlarmRow>;

  constructor(private readonly db: Database.Database) {
    // Idempotent: a no-op when the outbox already migrated this file.
    migrate(db);
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
  }

  insert(alarm: Omit<Alarm, "id">): Alarm {
    const info = this.ins.run({
      ...alarm,
      values: JSON.stringify(alarm.values),
      clearValues: alarm.clearValues === null ? null : JSON.stringify(alarm.clearValues),
    });
    return { ...alarm, id: Number(info.lastInsertRowid) };
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
