import { describe, expect, it } from "vitest";
import { canonicalJson, parseCanonical } from "../../../agent/ota/canonical-json.js";
import { isOtaError } from "../../../agent/ota/errors.js";
import { compareSemver, isSemver } from "../../../agent/ota/semver.js";

describe("canonical JSON", () => {
  it("sorts keys at every depth and writes no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: "x y" } })).toBe('{"a":{"c":"x y","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it("gives the same bytes whatever order the keys were inserted in", () => {
    expect(canonicalJson({ version: "1.0.0", name: "a" })).toBe(canonicalJson({ name: "a", version: "1.0.0" }));
  });

  it("escapes strings like JSON and keeps unicode", () => {
    expect(canonicalJson({ s: 'a"b\\c\n\u00e9' })).toBe('{"s":"a\\"b\\\\c\\n\u00e9"}');
  });

  it("refuses floats, undefined and non-plain objects instead of dropping or reformatting them", () => {
    for (const bad of [{ x: 1.5 }, { x: undefined }, { x: new Date(0) }, { x: Number.NaN }, { x: 2 ** 60 }]) {
      expect(() => canonicalJson(bad), JSON.stringify(bad)).toThrow(/canonical JSON/);
    }
  });

  it("parseCanonical accepts canonical bytes and refuses whitespace, unsorted or duplicate keys", () => {
    expect(parseCanonical(Buffer.from('{"a":1,"b":2}'), "m")).toEqual({ a: 1, b: 2 });
    for (const bad of ['{"a":1, "b":2}', '{"b":2,"a":1}', '{"a":1,"a":2}', '\ufeff{"a":1}']) {
      let err: unknown;
      try {
        parseCanonical(Buffer.from(bad), "m");
      } catch (e) {
        err = e;
      }
      expect(isOtaError(err, "OTA_MANIFEST_INVALID"), bad).toBe(true);
    }
  });
});

describe("semantic versions", () => {
  it("orders versions as semver.org says", () => {
    const sorted = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.2.0", "1.10.0", "2.0.0"];
    for (let i = 0; i < sorted.length - 1; i++) {
      expect(compareSemver(sorted[i]!, sorted[i + 1]!), `${sorted[i]} < ${sorted[i + 1]}`).toBe(-1);
      expect(compareSemver(sorted[i + 1]!, sorted[i]!)).toBe(1);
    }
    expect(compareSemver("1.2.3+build.5", "1.2.3")).toBe(0);
  });

  it("rejects what is not a version", () => {
    for (const bad of ["1.2", "01.2.3", "1.2.3-", "v1.2.3", "1.2.3.4", "", "99999999999999999999.0.0"]) expect(isSemver(bad), bad).toBe(false);
    expect(() => compareSemver("1.0", "1.0.0")).toThrow();
  });
});
