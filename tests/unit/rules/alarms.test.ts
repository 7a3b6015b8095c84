import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteAlarmStore } from "../../../edge/rules/sqlite-alarm-store.js";
import { harness, points, T0 } from "./harness.js";
import { EdgeError } from "../../../edge/errors.js";

const RULES = {
  rules: [
    {
      id: "bearing-hot",
      description: "bearing overheats",
      when: "bearing.temp > 90",
      clear: "bearing.temp < 80",
      actions: [{ type: "alarm" as const, severity: "critical" as const, message: "bearing at {bearing.temp} °C" }],
    },
  ],
};
const P = points("bearing.temp");

let dir: string;
let dbs: Database.Database[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "edge-alarms-"));
  dbs = [];
});
afterEach(() => {
  for (const db of dbs) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(): Database.Database {
  const db = new Database(join(dir, "edge.db"));
  dbs.push(db);
  return db;
}

describe("alarm lifecycle", () => {
  it("goes active -> acknowledged -> cleared, with raisedAt/ackAt/clearedAt and the triggering values", () => {
    const h = harness(RULES, P);
    h.feed({ "bearing.temp": 95 });
    const [raised] = h.engine.openAlarms();
    expect(raised).toMatchObject({ rule: "bearing-hot", state: "active", severity: "critical", raisedAt: T0, message: "bearing at 95 °C", values: { "bearing.temp": 95 } });
    h.clock.advance(1000);
    h.engine.acknowledge(raised!.id, "operator-7");
    h.clock.advance(1000);
    h.feed({ "bearing.temp": 75 });
    expect(h.engine.openAlarms()).toEqual([]);
    expect(h.alarms.map((c) => [c.change, c.alarm.state])).toEqual([
      ["raised", "active"],
      ["acknowledged", "acknowledged"],
      ["cleared", "cleared"],
    ]);
    expect(h.alarms[2]?.alarm).toMatchObject({ ackAt: T0 + 1000, ackBy: "operator-7", clearedAt: T0 + 2000, clearValues: { "bearing.temp": 75 } });
  });

  it("goes active -> cleared-unacknowledged -> cleared when acknowledged after it cleared; acknowledging twice is refused", () => {
    const h = harness(RULES, P);
    h.feed({ "bearing.temp": 95 });
    h.feed({ "bearing.temp": 70 });
    const [waiting] = h.engine.openAlarms();
    expect(waiting?.state).toBe("cleared-unacknowledged");
    expect(h.engine.acknowledge(waiting!.id).state).toBe("cleared");
    expect(() => h.engine.acknowledge(waiting!.id)).toThrow(EdgeError);
    expect(() => h.engine.acknowledge(999)).toThrow("no alarm 999");
    expect(h.engine.openAlarms()).toEqual([]);
  });

  it("a re-raise while the last alarm waits for acknowledgement opens a new alarm", () => {
    const h = harness(RULES, P);
    for (const t of [95, 70, 96]) h.feed({ "bearing.temp": t });
    expect(h.engine.openAlarms().map((a) => a.state)).toEqual(["cleared-unacknowledged", "active"]);
  });

  it("survives a restart in a re-opened SQLite file: the rule resumes active and clears its alarm instead of raising another", () => {
    {
      const h = harness(RULES, P, { alarmStore: new SqliteAlarmStore(open()) });
      h.feed({ "bearing.temp": 95 });
      h.feed({ "bearing.temp": 96 });
      expect(h.alarms).toHaveLength(1);
      dbs[0]!.close();
    }
    const db = open();
    const h = harness(RULES, P, { alarmStore: new SqliteAlarmStore(db) });
    expect(h.engine.openAlarms()).toMatchObject([{ rule: "bearing-hot", state: "active", values: { "bearing.temp": 95 } }]);
    expect(h.state("bearing-hot")).toBe("active");
    h.feed({ "bearing.temp": 97 });
    expect(h.alarms).toEqual([]);
    h.feed({ "bearing.temp": 60 });
    expect(h.alarms.map((a) => [a.change, a.alarm.state])).toEqual([["cleared", "cleared-unacknowledged"]]);
    db.close();
    const again = new SqliteAlarmStore(open());
    expect(again.open().map((a) => [a.id, a.state, a.clearValues])).toEqual([[1, "cleared-unacknowledged", { "bearing.temp": 60 }]]);
    expect(again.recent(10)).toHaveLength(1);
  });

  it("clears the alarm of a rule that is disabled or removed (it could never clear it itself)", () => {
    const h = harness(RULES, P);
    h.feed({ "bearing.temp": 95 });
    h.engine.setEnabled("bearing-hot", false);
    expect(h.state("bearing-hot")).toBe("disabled");
    expect(h.alarms.map((a) => a.change)).toEqual(["raised", "cleared"]);
    h.engine.setEnabled("bearing-hot", true);
    expect(h.state("bearing-hot")).toBe("active");
    h.engine.load({ rules: [] });
    expect(h.alarms.map((a) => a.change)).toEqual(["raised", "cleared", "raised", "cleared"]);
    expect(h.alarms.map((a) => a.alarm.clearReason)).toEqual([null, "rule disabled", null, "rule removed"]);
  });

  it("clears at the first load the alarm of a rule deleted from the config while the agent was down", () => {
    {
      const h = harness(RULES, P, { alarmStore: new SqliteAlarmStore(open()) });
      h.feed({ "bearing.temp": 95 });
      expect(h.alarms.map((a) => a.change)).toEqual(["raised"]);
      dbs[0]!.close();
    }
    // Restart with the rule gone: nothing in the new set could ever clear that alarm.
    const h = harness({ rules: [{ id: "other", when: "bearing.temp > 200", actions: [{ type: "alarm" as const }] }] }, P, { alarmStore: new SqliteAlarmStore(open()) });
    expect(h.alarms.map((a) => [a.change, a.alarm.rule, a.alarm.state, a.alarm.clearReason, a.alarm.clearedAt])).toEqual([["cleared", "bearing-hot", "cleared-unacknowledged", "rule removed", T0]]);
    // Stored as cleared: it waits for an acknowledgement, then closes; the next restart finds nothing live.
    const [waiting] = h.engine.openAlarms();
    expect(waiting).toMatchObject({ rule: "bearing-hot", state: "cleared-unacknowledged", clearReason: "rule removed" });
    h.engine.acknowledge(waiting!.id, "operator-7");
    dbs[1]!.close();
    const again = harness({ rules: [] }, P, { alarmStore: new SqliteAlarmStore(open()) });
    expect(again.alarms).toEqual([]);
    expect(again.engine.openAlarms()).toEqual([]);
  });
});

describe("retention of closed alarms", () => {
  const count = (db: Database.Database, where = "1") => (db.prepare(`SELECT count(*) AS n FROM alarms WHERE ${where}`).get() as { n: number }).n;

  it("keeps only the newest maxClosed closed alarms, checked as alarms are raised; open ones are never deleted", () => {
    const db = open();
    const h = harness(RULES, P, { alarmStore: new SqliteAlarmStore(db, { retention: { maxClosed: 3 } }) });
    // 20 alarms a minute apart, each raised, acknowledged and cleared (closed).
    for (let i = 0; i < 20; i++) {
      h.clock.advance(60_000);
      h.feed({ "bearing.temp": 95 });
      const [a] = h.engine.openAlarms();
      h.engine.acknowledge(a!.id);
      h.feed({ "bearing.temp": 70 });
    }
    // One left waiting for an acknowledgement, and one active.
    h.clock.advance(60_000);
    h.feed({ "bearing.temp": 95 });
    h.feed({ "bearing.temp": 70 });
    h.clock.advance(60_000);
    h.feed({ "bearing.temp": 95 });
    // The pass runs before the newest closures are counted: at most the bound plus the last minute's.
    expect(count(db, "state = 'cleared'")).toBeLessThanOrEqual(4);
    expect(count(db, "state <> 'cleared'")).toBe(2);
    const ids = (db.prepare("SELECT id FROM alarms WHERE state = 'cleared' ORDER BY id").all() as Array<{ id: number }>).map((r) => r.id);
    expect(ids.at(-1)).toBe(20); // the newest closed ones are the ones kept
    // On reopening, the pass leaves exactly the bound.
    const again = new SqliteAlarmStore(db, { retention: { maxClosed: 3 }, clock: h.clock.now });
    expect(count(db, "state = 'cleared'")).toBe(3);
    expect(again.open().map((a) => a.state)).toEqual(["cleared-unacknowledged", "active"]);
  });

  it("deletes closed alarms that closed longer ago than maxClosedAgeMs (90 days by default), never open ones", () => {
    const db = open();
    const DAY = 86_400_000;
    const store = new SqliteAlarmStore(db, { clock: () => T0 });
    const base = { rule: "r", severity: "major" as const, message: "m", values: {}, clearValues: null, clearReason: null, ackBy: null };
    const closed = (raisedAt: number, closedAt: number) =>
      store.update({ ...store.insert({ ...base, state: "active", raisedAt, ackAt: null, clearedAt: null }), state: "cleared", ackAt: closedAt, clearedAt: closedAt - 1000 });
    closed(T0, T0 + 10 * DAY); // closed on day 10
    closed(T0, T0 + 50 * DAY); // raised long ago, closed on day 50
    store.update({ ...store.insert({ ...base, state: "active", raisedAt: T0, ackAt: null, clearedAt: null }), state: "cleared-unacknowledged", clearedAt: T0 + DAY });
    expect(store.prune(T0 + 95 * DAY)).toBe(0); // both closed within the last 90 days
    expect(store.prune(T0 + 101 * DAY)).toBe(1);
    expect(count(db, "state = 'cleared'")).toBe(1);
    expect(store.prune(T0 + 200 * DAY)).toBe(1);
    expect(count(db)).toBe(1); // the unacknowledged one waits for its operator whatever its age
  });
});
