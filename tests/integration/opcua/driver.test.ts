import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EdgeError } from "../../../edge/errors.js";
import type { OpcuaDriver } from "../../../edge/drivers/opcua/driver.js";
import { factoryIds, startOpcuaSimulator, type OpcuaSimulator } from "../../../simulators/opcua/index.js";
import { waitFor } from "../../helpers/ports.js";
import { collector, fast, makeDriver, tempDir } from "./helpers.js";

/**
 * The driver against the factory simulator over real sockets (security None here; security.test.ts
 * covers the policies). One simulator and one driver for the whole file: node-opcua is slow to start.
 */
describe("OPC UA driver: subscriptions, polling, writes and methods", () => {
  let sim: OpcuaSimulator;
  let driver: OpcuaDriver;
  const tmp = tempDir("edge-opcua-driver-");
  const out = collector();

  beforeAll(async () => {
    sim = await startOpcuaSimulator({ port: 0, pkiDir: `${tmp.dir}/sim-pki` });
    driver = makeDriver(
      {
        endpointUrl: sim.endpointUrl,
        ...fast,
        points: [
          { id: "temp", nodeId: "ns=1;s=Line1.Oven1.Temperature" },
          { id: "pressure", nodeId: "ns=1;i=1001" },
          { id: "fill", nodeId: `ns=1;g=${factoryIds.guidFillLevel}` },
          { id: "bottles", nodeId: `ns=1;b=${factoryIds.opaqueBottles}` },
          { id: "state", browsePath: "/1:Factory/1:Line1/1:Filler1/1:State" },
          { id: "vib.raw", nodeId: `nsu=${factoryIds.namespaceUri};s=Line1.Press1.Vibration` },
          { id: "vib.abs", nodeId: "ns=1;s=Line1.Press1.Vibration", dataChangeFilter: { type: "absolute", value: 1 } },
          { id: "vib.pct", nodeId: "ns=1;s=Line1.Press1.Vibration", dataChangeFilter: { type: "percent", value: 10 } },
          { id: "setpoint", nodeId: "ns=1;s=Line1.Oven1.Setpoint", writable: true },
          { id: "recipe", browsePath: "/1:Factory/1:Line1/1:Filler1/1:Recipe", writable: true },
          { id: "strokes", nodeId: "ns=1;s=Line1.Press1.StrokeCount", mode: "poll", pollMs: 200 },
          { id: "missing", browsePath: "/1:Factory/1:Line1/1:NoSuchMachine/1:Temperature" },
          { id: "unknown", nodeId: "ns=1;s=Line1.Nothing.Here" },
          { id: "pct.plain", nodeId: "ns=1;s=Line1.Press1.MotorSpeed", dataChangeFilter: { type: "percent", value: 5 } },
        ],
        methods: [
          { id: "startBatch", object: "ns=1;s=Line1", method: "ns=1;s=Line1.StartBatch" },
          { id: "resetStrokes", object: "/1:Factory/1:Line1/1:Press1", method: "/1:Factory/1:Line1/1:Press1/1:ResetStrokeCount" },
        ],
      },
      tmp.dir,
    );
    await driver.start(out.sink);
    await waitFor("the driver to connect", () => driver.status().connected, 20_000);
  }, 60_000);

  afterAll(async () => {
    await driver?.stop();
    await sim?.stop();
    tmp.remove();
  });

  it("receives changes for every NodeId form and browse paths, with the server's timestamps", async () => {
    await waitFor("5 distinct temperatures", () => new Set(out.of("temp").filter((s) => s.quality === "good").map((s) => s.value)).size >= 5 || undefined, 10_000);
    for (const id of ["pressure", "fill", "bottles", "state", "vib.raw"]) {
      await waitFor(`a good ${id}`, () => out.of(id).find((s) => s.quality === "good"));
    }
    const temps = out.of("temp").filter((s) => s.quality === "good");
    for (const s of temps) {
      expect(typeof s.value).toBe("number");
      expect(s.value as number).toBeGreaterThanOrEqual(180);
      expect(s.value as number).toBeLessThanOrEqual(220);
    }
    // ts is the source timestamp the server sent: strictly increasing with the values, never in the future.
    const ts = temps.map((s) => s.ts);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    expect(Math.max(...ts)).toBeLessThanOrEqual(Date.now());
    // A UInt64 beyond 2^53 arrives as an exact decimal string.
    const bottles = out.of("bottles").find((s) => s.quality === "good");
    expect(typeof bottles?.value).toBe("string");
    expect(BigInt(bottles?.value as string) >= 9007199254740993n).toBe(true);
    expect((BigInt(bottles?.value as string) - 9007199254740993n) % 2n).toBe(0n);
    expect(["Idle", "Filling", "Capping", "Labeling"]).toContain(out.of("state").find((s) => s.quality === "good")?.value);
  });

  it("applies absolute and percent deadbands on the server", async () => {
    await waitFor("3 vib.abs and 2 vib.pct changes", () => (out.of("vib.abs").length >= 4 && out.of("vib.pct").length >= 3) || undefined, 15_000);
    const diffs = (id: string) => {
      const v = out.of(id).filter((s) => s.quality === "good").map((s) => s.value as number);
      return v.slice(1).map((x, i) => Math.abs(x - (v[i] as number)));
    };
    // The unfiltered item changes in small steps; the filtered ones only beyond their deadband
    // (absolute 1 mm/s; 10 % of the EURange 0..20 = 2 mm/s).
    expect(Math.min(...diffs("vib.raw"))).toBeLessThan(1);
    expect(Math.min(...diffs("vib.abs"))).toBeGreaterThan(1);
    expect(Math.min(...diffs("vib.pct"))).toBeGreaterThan(2);
    expect(out.of("vib.raw").length).toBeGreaterThan(2 * out.of("vib.abs").length);
  });

  it("polls points in mode poll and reads on demand", async () => {
    const before = out.of("strokes").length;
    await waitFor("4 more polls of strokes", () => out.of("strokes").length >= before + 4 || undefined, 5000);
    expect(out.of("strokes").every((s) => s.quality === "good" && Number.isInteger(s.value))).toBe(true);
    expect(driver.status().counters.polls).toBeGreaterThanOrEqual(4);
    const sample = await driver.read("setpoint");
    expect(sample).toMatchObject({ point: "setpoint", quality: "good" });
    expect(typeof sample.value).toBe("number");
  });

  it("writes with the variable's type and refuses what cannot be written", async () => {
    await driver.write("setpoint", 215.5);
    expect(sim.value("Line1.Oven1.Setpoint")).toBe(215.5);
    await waitFor("the written setpoint to come back through the subscription", () => out.of("setpoint").find((s) => s.value === 215.5));
    await driver.write("recipe", "Orange-500");
    expect(sim.value("Line1.Filler1.Recipe")).toBe("Orange-500");

    await expect(driver.write("temp", 1)).rejects.toMatchObject({ code: "POINT_READ_ONLY" });
    await expect(driver.write("setpoint", "hot")).rejects.toMatchObject({ code: "WRITE_TYPE" });
    await expect(driver.write("recipe", 12)).rejects.toMatchObject({ code: "WRITE_TYPE" });
    await expect(driver.write("nope", 1)).rejects.toMatchObject({ code: "POINT_UNKNOWN" });
    expect(sim.value("Line1.Oven1.Setpoint")).toBe(215.5);
  });

  it("calls methods by NodeId and by browse path, with argument types read from the server", async () => {
    const first = await driver.call("startBatch", ["Lemon-250", 10]);
    const second = await driver.call("startBatch", ["Lemon-250", 20]);
    expect(second).toEqual([(first[0] as number) + 1]);
    expect(sim.value("Line1.Filler1.Recipe")).toBe("Lemon-250");
    await expect(driver.call("startBatch", ["Lemon-250", 0])).rejects.toThrow(/BadInvalidArgument/);
    await expect(driver.call("startBatch", ["Lemon-250"])).rejects.toMatchObject({ code: "METHOD_ARGUMENTS" });
    await expect(driver.call("startBatch", ["Lemon-250", -1])).rejects.toMatchObject({ code: "WRITE_TYPE" });
    await expect(driver.call("nope", [])).rejects.toBeInstanceOf(EdgeError);
    const before = sim.value("Line1.Press1.StrokeCount") as number;
    const [previous] = await driver.call("resetStrokes", []);
    expect(previous as number).toBeGreaterThanOrEqual(before);
    expect(sim.value("Line1.Press1.StrokeCount") as number).toBeLessThan(previous as number);
  });

  it("waits for a slow server (injected latency) and is fast again without it", async () => {
    sim.setFaults({ latencyMs: 400 });
    let t = performance.now();
    expect((await driver.read("setpoint")).quality).toBe("good");
    expect(performance.now() - t).toBeGreaterThanOrEqual(380);
    sim.clearFaults();
    await new Promise((r) => setTimeout(r, 500)); // what was already on its way arrives late, in order
    t = performance.now();
    await driver.read("setpoint");
    expect(performance.now() - t).toBeLessThan(300);
    expect(driver.status().latencyMs?.samples).toBeGreaterThanOrEqual(2);
  });

  it("maps Bad and Uncertain status codes to quality and back to good", async () => {
    sim.setFaults({ badStatus: { code: "BadSensorFailure", nodes: ["Line1.Oven1.Temperature"] } });
    const bad = await waitFor("a bad temperature", () => out.of("temp").find((s) => s.quality === "bad" && s.reason === "BadSensorFailure"));
    expect(bad.value).toBeNull();
    sim.setFaults({ uncertainStatus: { code: "UncertainLastUsableValue", nodes: ["Line1.Oven1.Temperature"] } });
    const uncertain = await waitFor("an uncertain temperature", () => out.of("temp").find((s) => s.quality === "uncertain"));
    expect(uncertain.reason).toBe("UncertainLastUsableValue");
    expect(typeof uncertain.value).toBe("number");
    sim.clearFaults();
    const since = out.of("temp").length;
    await waitFor("a good temperature again", () => out.of("temp").slice(since).find((s) => s.quality === "good"));
  });

  it("reports points it cannot resolve or monitor as bad, and its health in status", async () => {
    const missing = out.of("missing");
    expect(missing[0]).toMatchObject({ quality: "bad", value: null });
    expect(missing[0]?.reason).toMatch(/browse path .*NoSuchMachine.* not found/);
    expect(out.of("unknown")[0]?.reason).toMatch(/BadNodeIdUnknown/);
    // A percent deadband needs an EURange: the server refuses it on a plain variable.
    expect(out.of("pct.plain")[0]).toMatchObject({ quality: "bad", value: null });
    expect(out.of("pct.plain").some((s) => s.quality === "good")).toBe(false);
    const status = driver.status();
    expect(status).toMatchObject({ protocol: "opcua", state: "connected", session: "active", securityPolicy: "None", securityMode: "None" });
    expect(status.subscription.state).toBe("active");
    // 12 subscribed points resolved; the server refused two of them.
    expect(status.subscription.monitoredItems).toBe(10);
    expect(status.subscription.failedItems.unknown).toBe("BadNodeIdUnknown");
    expect(status.subscription.failedItems["pct.plain"]).toMatch(/^Bad/);
    expect(Object.keys(status.subscription.failedItems)).toHaveLength(2);
    expect(status.subscription.revisedPublishingIntervalMs).toBe(100);
    expect(status.notificationsPerSecond).toBeGreaterThan(0);
    expect(status.counters.samples).toBe(out.all().length);
  });
});
