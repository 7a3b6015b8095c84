import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SeqCounter } from "../../../edge/uplink/sparkplug/sequence.js";
import { BdSeqStore } from "../../../edge/uplink/sparkplug/bdseq-store.js";

describe("Sparkplug seq", () => {
  it("counts 0..255 and wraps to 0, and starts again at 0 on reset (a new NBIRTH)", () => {
    const seq = new SeqCounter();
    const seen = Array.from({ length: 258 }, () => seq.next());
    expect(seen.slice(0, 3)).toEqual([0, 1, 2]);
    expect(seen.slice(254, 258)).toEqual([254, 255, 0, 1]);
    seq.reset();
    expect(seq.next()).toBe(0);
  });
});

describe("Sparkplug bdSeq store", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edge-bdseq-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps counting across instances (restarts), from a file written without leftovers", () => {
    const first = new BdSeqStore(dir);
    expect(first.current()).toBeNull();
    expect(first.allocate()).toBe(0);
    expect(first.allocate()).toBe(1);
    const second = new BdSeqStore(dir);
    expect(second.current()).toBe(1);
    expect(second.allocate()).toBe(2);
    expect(JSON.parse(readFileSync(join(dir, "sparkplug-bdseq.json"), "utf8"))).toEqual({ bdSeq: 2 });
    expect(readdirSync(dir)).toEqual(["sparkplug-bdseq.json"]);
  });

  it("wraps 255 -> 0 and starts at 0 when the file is unreadable", () => {
    writeFileSync(join(dir, "sparkplug-bdseq.json"), JSON.stringify({ bdSeq: 255 }));
    expect(new BdSeqStore(dir).allocate()).toBe(0);
    writeFileSync(join(dir, "sparkplug-bdseq.json"), "{not json");
    expect(new BdSeqStore(dir).allocate()).toBe(0);
  });

  it("creates the data folder when it does not exist yet", () => {
    const store = new BdSeqStore(join(dir, "nested", "data"));
    expect(store.allocate()).toBe(0);
    expect(new BdSeqStore(join(dir, "nested", "data")).current()).toBe(0);
  });
});
