import { describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isOtaError } from "../../../agent/ota/errors.js";
import { VersionFloor } from "../../../agent/ota/version-floor.js";

describe("VersionFloor", () => {
  it("starts empty, advances on commit, persists, and never goes down", () => {
    const dir = mkdtempSync(join(tmpdir(), "ota-floor-"));
    const file = join(dir, "state", "floor.json");
    const floor = VersionFloor.open(file);
    expect(floor.get("agent")).toBeNull();
    expect(floor.commit("agent", "1.2.0")).toBe(true);
    expect(floor.commit("config", "3.0.0")).toBe(true);
    expect(floor.commit("agent", "1.1.9")).toBe(false);
    expect(floor.commit("agent", "1.2.0")).toBe(false);
    const again = VersionFloor.open(file);
    expect(again.get("agent")).toBe("1.2.0");
    expect(again.get("config")).toBe("3.0.0");
    expect(again.commit("agent", "1.10.0")).toBe(true);
    expect(VersionFloor.open(file).get("agent")).toBe("1.10.0");
    // Written through a temp file and a rename: no temp file is left behind.
    expect(readdirSync(join(dir, "state"))).toEqual(["floor.json"]);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ version: 1, floors: { agent: "1.10.0", config: "3.0.0" } });
  });

  it("a corrupt file is an error, never an empty floor", () => {
    const dir = mkdtempSync(join(tmpdir(), "ota-floor-"));
    const file = join(dir, "floor.json");
    for (const content of ["{not json", '{"version":1,"floors":{"agent":"x"}}', "[]"]) {
      writeFileSync(file, content);
      let err: unknown;
      try {
        VersionFloor.open(file);
      } catch (e) {
        err = e;
      }
      expect(isOtaError(err, "OTA_FLOOR_CORRUPT"), content).toBe(true);
    }
  });
});
