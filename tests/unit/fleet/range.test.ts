import { describe, expect, it } from "vitest";
import { parseRange } from "../../../simulators/fleet/range.js";

describe("Range header", () => {
  it.each([
    [undefined, { kind: "full" }],
    ["bytes=0-9", { kind: "partial", start: 0, end: 9 }],
    ["bytes=90-", { kind: "partial", start: 90, end: 99 }],
    ["bytes=90-500", { kind: "partial", start: 90, end: 99 }],
    ["bytes=-10", { kind: "partial", start: 90, end: 99 }],
    ["bytes=-500", { kind: "partial", start: 0, end: 99 }],
    ["bytes=0-1,5-6", { kind: "full" }],
  ])("%s on 100 bytes", (header, want) => {
    expect(parseRange(header, 100)).toEqual(want);
  });

  it.each(["bytes=100-", "bytes=200-300", "bytes=9-3", "bytes=-0", "bytes=-", "items=0-1", "bytes=a-b"])("%s on 100 bytes is unsatisfiable", (header) => {
    expect(parseRange(header, 100).kind).toBe("unsatisfiable");
  });
});
