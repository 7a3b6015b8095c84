import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../agent/config/load.js";
import { ConfigError } from "../../../agent/config/errors.js";
import { REPO } from "../../helpers/cli.js";

/**
 * Data-driven config cases: tests/cases/config/<name>/ holds config.yaml (or .json) and either
 * expected-error.txt (every problem line the agent must print, and no others) or expected.json (the
 * validated config with its defaults). Add a folder to add a case.
 */
const casesDir = join(REPO, "tests", "cases", "config");
const cases = readdirSync(casesDir).sort();

describe("configuration cases", () => {
  it("has cases to run", () => expect(cases.length).toBeGreaterThanOrEqual(5));

  for (const name of cases) {
    const dir = join(casesDir, name);
    const file = existsSync(join(dir, "config.yaml")) ? "config.yaml" : "config.json";
    const text = readFileSync(join(dir, file), "utf8");

    if (existsSync(join(dir, "expected-error.txt"))) {
      it(`${name}: refused with every problem named by path and line`, () => {
        const expected = readFileSync(join(dir, "expected-error.txt"), "utf8").split("\n").filter(Boolean);
        let error: unknown;
        try {
          parseConfig(text, file, {});
        } catch (err) {
          error = err;
        }
        expect(error).toBeInstanceOf(ConfigError);
        const lines = (error as ConfigError).message.split("\n").slice(1).map((l) => l.trim());
        for (const want of expected) expect(lines.some((l) => l.includes(want)), `missing: ${want}\ngot:\n${lines.join("\n")}`).toBe(true);
        expect(lines).toHaveLength(expected.length);
      });
    } else {
      it(`${name}: accepted with defaults filled in`, () => {
        const expected = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as Record<string, unknown>;
        const config = parseConfig(text, file, {});
        expect(config).toMatchObject(expected);
        if (!("mqtt" in expected)) expect(config.mqtt).toBeUndefined();
      });
    }
  }
});
