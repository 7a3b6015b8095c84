import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { pino } from "pino";
import { openOutbox } from "../../edge/store/open-store.js";

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { logger, lines };
}

describe("opening a store file that cannot be used", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const options = () => ({ path: join(dir, "edge.db"), maxRows: 1000, maxAgeMs: 0, synchronous: "normal" as const });

  it("moves a file that is not SQLite aside (kept, not deleted), starts fresh and says so", () => {
    dir = mkdtempSync(join(tmpdir(), "edge-store-"));
    writeFileSync(join(dir, "edge.db"), "this is not a database, it is a text file ".repeat(100));
    const { logger, lines } = capture();
    const outbox = openOutbox(options(), logger);
    expect(outbox.append("telemetry", [{ ts: 1, json: '{"point":"a"}' }])).toEqual({ first: 1, last: 1 });
    outbox.close();
    const aside = readdirSync(dir).find((f) => f.startsWith("edge.db.unusable-"));
    expect(aside).toBeDefined();
    expect(readFileSync(join(dir, aside ?? ""), "utf8")).toContain("this is not a database");
    expect(lines.find((l) => l.level === 50)?.movedTo).toBe(join(dir, aside ?? ""));
  });

  it("moves aside a database of an incompatible schema instead of refusing to start", () => {
    dir = mkdtempSync(join(tmpdir(), "edge-store-"));
    const old = new Database(join(dir, "edge.db"));
    old.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, ts INTEGER, body TEXT); INSERT INTO outbox (kind, ts, body) VALUES ('telemetry', 1, '{}'); PRAGMA user_version = 1;");
    old.close();
    const { logger } = capture();
    const outbox = openOutbox(options(), logger);
    expect(outbox.stats().pending).toBe(0);
    outbox.close();
    const aside = readdirSync(dir).find((f) => f.startsWith("edge.db.unusable-") && !f.endsWith("-wal") && !f.endsWith("-shm"));
    const kept = new Database(join(dir, aside ?? ""), { readonly: true });
    expect((kept.prepare("SELECT count(*) AS n FROM outbox").get() as { n: number }).n).toBe(1);
    kept.close();
  });

  it("does not touch a healthy database", () => {
    dir = mkdtempSync(join(tmpdir(), "edge-store-"));
    const { logger, lines } = capture();
    const a = openOutbox(options(), logger);
    a.append("telemetry", [{ ts: 1, json: '{"point":"a"}' }]);
    const epoch = a.epoch;
    a.close();
    const b = openOutbox(options(), logger);
    expect(b.epoch).toBe(epoch);
    expect(b.stats().pending).toBe(1);
    b.close();
    expect(lines.filter((l) => l.level === 50)).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.includes("unusable"))).toEqual([]);
  });
});
