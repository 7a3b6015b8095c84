import { describe, expect, it } from "vitest";
import { deviceOfTopic, parseDeviceState, parseStatus } from "../../../simulators/fleet/messages.js";

const good = { v: 1, device: "gw-1", offerId: "o-1", rolloutId: "r-1", name: "edge-agent", kind: "agent", version: "1.2.0", state: "downloading", progress: { bytes: 10, total: 100 }, installedVersion: "1.1.0", ts: 1 };

describe("status validation", () => {
  it("accepts a well-formed status on its own device's topic", () => {
    const r = parseStatus("edge/gw-1/ota/status", JSON.stringify(good));
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.status.state).toBe("downloading");
  });

  it("accepts the optional fields being absent and an ISO ts", () => {
    const { rolloutId: _r, progress: _p, ...rest } = good;
    expect(parseStatus("edge/gw-1/ota/status", JSON.stringify({ ...rest, state: "committed", ts: "2030-01-01T00:00:00Z" })).ok).toBe(true);
  });

  it.each([
    ["not JSON", "{oops", /not JSON/],
    ["an unknown state", JSON.stringify({ ...good, state: "exploded" }), /state/],
    ["a wrong version", JSON.stringify({ ...good, v: 2 }), /v/],
    ["a missing offerId", JSON.stringify({ ...good, offerId: undefined }), /offerId/],
    ["a negative progress", JSON.stringify({ ...good, progress: { bytes: -1, total: 1 } }), /progress/],
    ["an array", "[]", /expected object/],
  ])("refuses %s with a reason", (_what, payload, reason) => {
    const r = parseStatus("edge/gw-1/ota/status", payload);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it("refuses a status that names another device than its topic", () => {
    const r = parseStatus("edge/gw-2/ota/status", JSON.stringify(good));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/names device gw-1/);
  });

  it("reads device ids out of topics and nothing else", () => {
    expect(deviceOfTopic("edge/gw-1/ota/status", "ota/status")).toBe("gw-1");
    expect(deviceOfTopic("edge/gw-1/state", "state")).toBe("gw-1");
    expect(deviceOfTopic("edge/gw-1/x/ota/status", "ota/status")).toBeUndefined();
    expect(deviceOfTopic("other/gw-1/state", "state")).toBeUndefined();
    expect(deviceOfTopic("edge/groups/state", "state")).toBeUndefined();
  });

  it("reads online/offline as plain text or JSON", () => {
    expect(parseDeviceState(Buffer.from("online"))).toBe("online");
    expect(parseDeviceState(Buffer.from('{"state":"offline"}'))).toBe("offline");
    expect(parseDeviceState(Buffer.from("maybe"))).toBeUndefined();
  });
});
