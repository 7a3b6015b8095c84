import { afterAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StateStore } from "../../../agent/ota/state.js";
import { isOtaError } from "../../../agent/ota/errors.js";
import { otaOfferSchema, otaStatusSchema } from "../../../agent/ota/messages.js";

const dir = mkdtempSync(join(tmpdir(), "ota-state-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `state-${++n}.json`);
const begin = (s: StateStore, offerId = "o1") =>
  s.begin({ offerId, rolloutId: null, offer: null, release: { name: "edge-agent", kind: "agent", version: "2.0.0", size: 1, sha256: "0".repeat(64) }, fromVersion: "1.0.0", reportTo: null });

describe("persisted update state", () => {
  it("starts idle, writes every transition ahead, and a new store reads it back", () => {
    const f = file();
    const s = new StateStore(f);
    expect(s.get().state).toBe("idle");
    begin(s);
    s.enter("downloading");
    const onDisk = JSON.parse(readFileSync(f, "utf8")) as { state: string; seq: number };
    expect(onDisk.state).toBe("downloading");
    expect(new StateStore(f).get()).toMatchObject({ state: "downloading", offerId: "o1", fromVersion: "1.0.0", entries: { offered: 1, downloading: 1 } });
  });

  it("refuses transitions the machine does not have", () => {
    const s = new StateStore(file());
    begin(s);
    expect(() => s.enter("committed")).toThrow(/cannot go from offered to committed/);
    expect(() => s.enter("switching")).toThrow(/cannot go from offered to switching/);
  });

  it("a state entered more than 3 times aborts with OTA_STATE_LOOP and writes nothing", () => {
    const f = file();
    const s = new StateStore(f);
    begin(s);
    for (let i = 0; i < 3; i++) s.enter("downloading");
    const before = readFileSync(f, "utf8");
    let err: unknown;
    try {
      s.enter("downloading");
    } catch (e) {
      err = e;
    }
    expect(isOtaError(err, "OTA_STATE_LOOP")).toBe(true);
    expect(readFileSync(f, "utf8")).toBe(before);
    s.enter("failed", { error: { code: "OTA_STATE_LOOP", message: "x" } });
    expect(s.get().state).toBe("failed");
  });

  it("one update at a time; offer ids are remembered across updates", () => {
    const s = new StateStore(file());
    begin(s, "a");
    expect(() => begin(s, "b")).toThrow(/already offered/);
    s.enter("failed", { error: { code: "X", message: "y" } });
    begin(s, "b");
    expect(s.hasSeen("a")).toBe(true);
    expect(s.hasSeen("b")).toBe(true);
    expect(s.hasSeen("c")).toBe(false);
    expect(s.get().entries).toEqual({ offered: 1 });
  });

  it("a corrupt state file is an error, never a silent idle", () => {
    const f = file();
    writeFileSync(f, "{ not json");
    expect(() => new StateStore(f)).toThrow(/not valid JSON/);
    writeFileSync(f, JSON.stringify({ v: 1, state: "dancing" }));
    expect(() => new StateStore(f)).toThrow(/malformed/);
  });

  it("with quarantineCorrupt a corrupt file is moved aside, reported, and the store starts idle", () => {
    const f = file();
    writeFileSync(f, "{ not json");
    const reported: Array<string | null> = [];
    const s = new StateStore(f, { quarantineCorrupt: true, onCorrupt: (_err, movedTo) => reported.push(movedTo) });
    expect(s.get().state).toBe("idle");
    expect(reported).toHaveLength(1);
    expect(readFileSync(reported[0]!, "utf8")).toBe("{ not json");
    expect(existsSync(f)).toBe(false);
    // Corrupted again while running: reload quarantines too, and the store goes on from idle.
    begin(s);
    writeFileSync(f, JSON.stringify({ v: 1, state: "dancing" }));
    expect(s.reload().state).toBe("idle");
    expect(reported).toHaveLength(2);
    begin(s, "o2");
    expect(new StateStore(f).get().state).toBe("offered");
  });
});

describe("offer and status messages", () => {
  const offer = { v: 1, offerId: "o", manifest: Buffer.from("{}").toString("base64"), signatures: [{ keyid: "k", sig: "A".repeat(86) + "==" }], url: "https://files.example/edge-agent-1.2.0.tar.gz" };
  it("accepts the documented offer and drops unknown fields", () => {
    const parsed = otaOfferSchema.parse({ ...offer, extra: true, roots: [] });
    expect(parsed).not.toHaveProperty("extra");
  });
  it("refuses other URL schemes, bad base64 and missing signatures", () => {
    expect(otaOfferSchema.safeParse({ ...offer, url: "file:///etc/passwd" }).success).toBe(false);
    expect(otaOfferSchema.safeParse({ ...offer, manifest: "not base64!" }).success).toBe(false);
    expect(otaOfferSchema.safeParse({ ...offer, signatures: [] }).success).toBe(false);
  });
  it("status carries the documented states", () => {
    const s = { v: 1, device: "gw", offerId: "o", name: "edge-agent", kind: "agent", version: "1.2.0", state: "refused", error: { code: "OTA_BUSY", message: "m" }, installedVersion: null, ts: 1 };
    expect(otaStatusSchema.parse(s).state).toBe("refused");
    expect(otaStatusSchema.safeParse({ ...s, state: "exploded" }).success).toBe(false);
  });
});
