import { describe, expect, it } from "vitest";
import type { OtaState } from "../../../simulators/fleet/messages.js";
import { Rollout, type RolloutHooks } from "../../../simulators/fleet/rollout.js";
import { normalizeThreshold } from "../../../simulators/fleet/threshold.js";

/** Hooks that record offers and hold wave timers until the test fires them. */
function harness(offline: string[] = []) {
  const offers: string[] = [];
  const timers: { ms: number; fn: () => void }[] = [];
  const states: string[] = [];
  const hooks: RolloutHooks = {
    offer: async (device) => void offers.push(device),
    isOffline: (d) => offline.includes(d),
    setTimer: (ms, fn) => {
      const t = { ms, fn };
      timers.push(t);
      return () => timers.splice(timers.indexOf(t), 1);
    },
    clock: () => 0,
    onChange: () => undefined,
    onError: () => undefined,
    onState: (s, reason) => void states.push(reason ? `${s}: ${reason}` : s),
  };
  return { hooks, offers, timers, states };
}

function make(h: ReturnType<typeof harness>, threshold: number, waveDelayMs = 0) {
  const stages = [
    { name: "canary", devices: ["a"] },
    { name: "wave1", devices: ["b", "c"] },
    { name: "wave2", devices: ["d", "e", "f"] },
  ];
  const r = new Rollout("r-1", "edge-agent-1.2.0", stages, [], normalizeThreshold(threshold), waveDelayMs, h.hooks);
  const report = (device: string, state: OtaState, errorCode?: string) => {
    const offerId = r.view().devices[device]!.offerId!;
    const error = errorCode ? { error: { code: errorCode, message: "m" } } : {};
    return r.onStatus({ v: 1, device, offerId, rolloutId: "r-1", name: "edge-agent", kind: "agent", version: "1.2.0", state, installedVersion: "1.0.0", ts: 0, ...error });
  };
  return { r, report };
}

describe("rollout engine", () => {
  it("offers the canary first and each wave only when the previous one is done", () => {
    const h = harness();
    const { r, report } = make(h, 0);
    r.start();
    expect(h.offers).toEqual(["a"]);
    report("a", "downloading");
    expect(h.offers).toEqual(["a"]);
    report("a", "committed");
    expect(h.offers).toEqual(["a", "b", "c"]);
    report("b", "committed");
    expect(h.offers).toEqual(["a", "b", "c"]);
    report("c", "committed");
    expect(h.offers).toEqual(["a", "b", "c", "d", "e", "f"]);
    for (const d of ["d", "e", "f"]) report(d, "committed");
    expect(r.view().state).toBe("completed");
    expect(r.view().counts).toMatchObject({ targets: 6, offered: 6, committed: 6, failures: 0 });
  });

  it("halts when failures pass the threshold, with the reason, and offers nothing more", () => {
    const h = harness();
    const { r, report } = make(h, 1); // tolerates one failure
    r.start();
    report("a", "committed");
    report("b", "rolled_back");
    expect(r.view().state).toBe("running");
    report("c", "failed");
    const v = r.view();
    expect(v.state).toBe("halted");
    expect(v.reason).toMatch(/2 of 3 offered devices failed/);
    expect(v.reason).toContain("b rolled_back");
    expect(v.reason).toContain("c failed");
    expect(h.offers).toEqual(["a", "b", "c"]);
    expect(h.states).toEqual([expect.stringMatching(/^halted: /)]);
  });

  it("goes on after a stage whose failures stay under the threshold", () => {
    const h = harness();
    const { r, report } = make(h, 0.5);
    r.start();
    report("a", "committed");
    report("b", "failed");
    report("c", "committed");
    expect(r.view().state).toBe("running");
    expect(h.offers).toContain("d");
  });

  it("a duplicate progress report after the outcome does not undo it", () => {
    const h = harness();
    const { r, report } = make(h, 0);
    r.start();
    report("a", "committed");
    report("a", "downloading");
    expect(r.view().devices.a!.state).toBe("committed");
  });

  it("waits waveDelayMs between stages through the injected timer", () => {
    const h = harness();
    const { r, report } = make(h, 0, 60_000);
    r.start();
    report("a", "committed");
    expect(r.view().state).toBe("waiting");
    expect(h.offers).toEqual(["a"]);
    expect(h.timers.map((t) => t.ms)).toEqual([60_000]);
    h.timers[0]!.fn();
    expect(h.offers).toEqual(["a", "b", "c"]);
    expect(r.view().state).toBe("running");
  });

  it("a halt during the wave delay cancels the next wave", () => {
    const h = harness();
    const { r, report } = make(h, 0, 60_000);
    r.start();
    report("a", "committed");
    r.halt("operator says stop");
    expect(h.timers).toEqual([]);
    expect(r.view()).toMatchObject({ state: "halted", reason: "operator says stop" });
  });

  it("resume accepts the failures so far and goes on", () => {
    const h = harness();
    const { r, report } = make(h, 0);
    r.start();
    report("a", "failed");
    expect(r.view().state).toBe("halted");
    r.resume();
    expect(r.view().state).toBe("running");
    expect(h.offers).toEqual(["a", "b", "c"]);
    report("b", "failed"); // a new failure passes the threshold again
    expect(r.view().state).toBe("halted");
  });

  it("an offline device is offered when it comes online", () => {
    const h = harness(["a"]);
    const { r } = make(h, 0);
    r.start();
    expect(h.offers).toEqual([]);
    expect(r.view().devices.a!.state).toBe("waiting_online");
    r.onOnline("a");
    expect(h.offers).toEqual(["a"]);
  });

  it("ignores a status for an offer it did not make", () => {
    const h = harness();
    const { r } = make(h, 0);
    r.start();
    expect(r.onStatus({ v: 1, device: "a", offerId: "someone-else", name: "x", kind: "agent", version: "1", state: "failed", installedVersion: null, ts: 0 })).toBe(false);
    expect(r.view().devices.a!.state).toBe("offered");
  });

  it("a canary that refuses the release (wrong key, platform, floor) halts the rollout like a failure", () => {
    const h = harness();
    const { r, report } = make(h, 0);
    r.start();
    report("a", "refused", "OTA_SIGNATURE");
    const v = r.view();
    expect(v.state).toBe("halted");
    expect(v.reason).toContain("a refused (OTA_SIGNATURE)");
    expect(v.counts).toMatchObject({ refused: 1, failures: 0 });
    expect(h.offers).toEqual(["a"]);
  });

  it("an OTA_BUSY refusal is no outcome: the device is offered again later and the wave waits for it", () => {
    const h = harness();
    const { r, report } = make(h, 0);
    r.start();
    report("a", "refused", "OTA_BUSY");
    expect(r.view()).toMatchObject({ state: "running", counts: { refused: 0, inProgress: 1 } });
    expect(r.view().devices.a!.state).toBe("busy");
    expect(h.offers).toEqual(["a"]);
    expect(h.timers.map((t) => t.ms)).toEqual([60_000]);
    h.timers[0]!.fn();
    expect(h.offers).toEqual(["a", "a"]);
    report("a", "committed");
    expect(h.offers).toEqual(["a", "a", "b", "c"]);
  });

  it("an offer whose publish failed is published again with a growing delay", async () => {
    const h = harness();
    let fail = 2;
    h.hooks.offer = async (device) => {
      h.offers.push(device);
      if (fail-- > 0) throw new Error("broker down");
    };
    const { r, report } = make(h, 0);
    r.start();
    await Promise.resolve();
    await Promise.resolve();
    expect(r.view().devices.a!.state).toBe("pending");
    expect(h.timers.map((t) => t.ms)).toEqual([1000]);
    h.timers.shift()!.fn();
    await Promise.resolve();
    await Promise.resolve();
    expect(h.timers.map((t) => t.ms)).toEqual([2000]);
    h.timers.shift()!.fn();
    await Promise.resolve();
    await Promise.resolve();
    expect(h.offers).toEqual(["a", "a", "a"]);
    expect(r.view().devices.a!.state).toBe("offered");
    report("a", "committed");
    expect(h.offers).toContain("b");
  });
});
