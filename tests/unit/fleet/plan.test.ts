import { describe, expect, it } from "vitest";
import { bucketOf, planStages } from "../../../simulators/fleet/plan.js";

const fleet = (n: number) => Array.from({ length: n }, (_, i) => `gw-${String(i).padStart(4, "0")}`);

describe("stage planning", () => {
  it("gives the same plan for the same devices, whatever order they are listed in", () => {
    const devices = fleet(200);
    const specs = [{ name: "canary", percent: 5 }, { name: "wave", percent: 50 }, { name: "rest" }];
    const a = planStages(devices, specs);
    const b = planStages([...devices].reverse(), specs);
    expect(b).toEqual(a);
    expect(a.stages.flatMap((s) => s.devices).sort()).toEqual(devices);
    expect(a.unplanned).toEqual([]);
  });

  it("percentages are cumulative buckets of the device id hash", () => {
    const devices = fleet(2000);
    const plan = planStages(devices, [{ name: "ten", percent: 10 }, { name: "forty", percent: 40 }]);
    const [ten, forty] = plan.stages;
    for (const d of ten!.devices) expect(bucketOf(d)).toBeLessThan(10);
    for (const d of forty!.devices) expect(bucketOf(d)).toBeGreaterThanOrEqual(10);
    for (const d of forty!.devices) expect(bucketOf(d)).toBeLessThan(40);
    // sha256 spreads ids evenly: about 200 and 600 devices
    expect(ten!.devices.length).toBeGreaterThan(140);
    expect(ten!.devices.length).toBeLessThan(260);
    expect(forty!.devices.length).toBeGreaterThan(500);
    expect(forty!.devices.length).toBeLessThan(700);
    expect(plan.unplanned.length).toBe(2000 - ten!.devices.length - forty!.devices.length);
  });

  it("a device keeps its bucket when the fleet grows", () => {
    const small = planStages(fleet(50), [{ name: "canary", percent: 20 }]).stages[0]!.devices;
    const big = planStages(fleet(500), [{ name: "canary", percent: 20 }]).stages[0]!.devices;
    for (const d of small) expect(big).toContain(d);
  });

  it("a percent canary on a tiny fleet still takes one device, the lowest bucket", () => {
    const devices = ["a", "b", "c"];
    const plan = planStages(devices, [{ name: "canary", percent: 1 }, { name: "rest" }]);
    const lowest = [...devices].sort((x, y) => bucketOf(x) - bucketOf(y))[0]!;
    expect(plan.stages[0]!.devices).toEqual([lowest]);
    expect(plan.stages[1]!.devices).toEqual(devices.filter((d) => d !== lowest));
  });

  it("named devices are taken out first; a device is in one stage only", () => {
    const plan = planStages(["a", "b", "c", "d"], [{ name: "canary", devices: ["c"] }, { name: "half", percent: 100 }, { name: "again", devices: ["c", "a"] }]);
    expect(plan.stages[0]!.devices).toEqual(["c"]);
    expect(plan.stages[1]!.devices).toEqual(["b", "d"]);
    expect(plan.stages[2]!.devices).toEqual(["a"]);
  });

  it("a seed changes the buckets, so canaries can rotate between rollouts", () => {
    const devices = fleet(100);
    const a = planStages(devices, [{ name: "c", percent: 10 }]).stages[0]!.devices;
    const b = planStages(devices, [{ name: "c", percent: 10 }], "rollout-2").stages[0]!.devices;
    expect(b).not.toEqual(a);
  });

  it("percent 0 takes nobody", () => {
    expect(planStages(["a", "b"], [{ name: "none", percent: 0 }]).stages[0]!.devices).toEqual([]);
  });
});
