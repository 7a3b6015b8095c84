import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mqtt from "mqtt";
import { Runtime } from "../../agent/runtime/runtime.js";
import { parseConfig } from "../../agent/config/load.js";
import { startFleetServer, type FleetServer } from "../../simulators/fleet/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";
import { buildRelease, installBase, makeTrust, tempDir, type BuiltRelease } from "../helpers/ota.js";

/** Puts a built release into the fleet server's folder under the names agent/ota writes. */
function publish(dir: string, r: BuiltRelease): string {
  const name = `${r.manifest.name}-${r.manifest.version}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.tar.gz`), r.archive);
  writeFileSync(join(dir, `${name}.manifest.json`), r.manifestBytes);
  writeFileSync(join(dir, `${name}.manifest.json.sig`), JSON.stringify({ signatures: r.signatures }));
  return name;
}

/**
 * The OTA client inside the real agent runtime, fed by the fleet server simulator over a real broker:
 * an offer arrives on edge/{id}/ota/offer, the release is verified, downloaded from the fleet's HTTP,
 * installed side by side and handed to the supervisor; status goes back on edge/{id}/ota/status.
 */
describe("OTA in the running agent, offered by the fleet server", () => {
  let broker: TestBroker | undefined;
  let fleet: FleetServer | undefined;
  let runtime: Runtime | undefined;
  const work = tempDir("ota-rt-");
  afterEach(async () => {
    await runtime?.stop();
    await fleet?.stop();
    await broker?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  async function start(deviceId: string, beforeAgent?: (trust: ReturnType<typeof makeTrust>, releases: string) => Promise<void>) {
    broker = await startTestBroker();
    const trust = makeTrust(join(work, "trust"));
    const installRoot = join(work, "install");
    installBase(installRoot, "1.0.0");
    const releases = join(work, "releases");
    mkdirSync(releases, { recursive: true });
    fleet = await startFleetServer({ mqttUrl: broker.url, releasesDir: releases });
    const statuses: Array<{ state: string; error?: { code: string } }> = [];
    const observer = await mqtt.connectAsync(broker.url, { clientId: `${deviceId}-observer` });
    observer.on("message", (_t, p) => statuses.push(JSON.parse(p.toString()) as (typeof statuses)[number]));
    await observer.subscribeAsync(`edge/${deviceId}/ota/status`, { qos: 1 });
    await beforeAgent?.(trust, releases);
    const config = parseConfig(
      `version: 1
device: { id: ${deviceId} }
dataDir: ${join(work, "data")}
mqtt: { url: "${broker.url}" }
api: { enabled: false }
ota: { enabled: true, installRoot: ${installRoot}, trustRoot: ${trust.rootFile}, groups: [line-1] }
`,
      "ota.yaml",
      {},
    );
    runtime = new Runtime({ config, logger: testLogger(), version: "1.0.0" });
    await runtime.start();
    const rt = runtime;
    await waitFor("uplink connected", () => (rt.status().uplink?.connected ? true : undefined));
    await waitFor("the fleet sees the device", async () => ((await (await fetch(`${fleet?.url}/devices`)).text()).includes(deviceId) ? true : undefined));
    return { trust, installRoot, releases, statuses, observer, rt };
  }

  const offer = async (release: string, device: string) => {
    const res = await fetch(`${fleet?.url}/offers`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ release, device }) });
    expect(res.status, await res.clone().text()).toBe(201);
  };

  it("installs a signed release side by side and hands over to the supervisor, reporting each step", async () => {
    const { trust, installRoot, releases, statuses, observer, rt } = await start("ota-rt-gw");
    const name = publish(releases, await buildRelease(join(work, "build"), trust, { version: "1.1.0", groups: ["line-1"] }));
    await offer(name, "ota-rt-gw");
    await waitFor("switching (waiting for the supervisor)", () => (rt.status().ota?.state === "switching" ? true : undefined), 20_000);
    await waitFor("the switching report", () => (statuses.some((s) => s.state === "switching") ? true : undefined));
    await observer.endAsync(true);
    expect(statuses.map((s) => s.state)).toEqual(expect.arrayContaining(["offered", "downloading", "verifying", "installing", "switching"]));
    expect(existsSync(join(installRoot, "releases", "1.1.0", "dist", "agent", "cli", "main.js"))).toBe(true);
  });

  it("refuses a release signed by a key the device does not trust: nothing downloaded or installed, the reason reported", async () => {
    const { installRoot, releases, statuses, observer, rt } = await start("ota-rt-gw2");
    const stranger = makeTrust(join(work, "stranger"));
    const name = publish(releases, await buildRelease(join(work, "build"), stranger, { version: "1.2.0" }));
    await offer(name, "ota-rt-gw2");
    await waitFor("the refusal", () => (statuses.some((s) => s.state === "refused" || s.state === "failed") ? true : undefined), 15_000);
    await observer.endAsync(true);
    const refusal = statuses.find((s) => s.state === "refused" || s.state === "failed");
    expect(refusal?.error?.code).toBe("OTA_SIGNATURE");
    expect(statuses.some((s) => s.state === "downloading")).toBe(false);
    expect(existsSync(join(installRoot, "releases", "1.2.0"))).toBe(false);
    expect(rt.status().ota?.installed.agent).toBe("1.0.0");
  });

  it("an offer sent the moment the device shows online is not lost (it announces itself only once subscribed)", async () => {
    // The gateway was seen before and is offline (its retained state, as its last will leaves it); the
    // rollout starts meanwhile, so the fleet offers the instant it sees `online`.
    const { statuses, observer, rt } = await start("ota-rt-gw3", async (trust, releases) => {
      const last = await mqtt.connectAsync(broker?.url ?? "", { clientId: "ota-rt-gw3-last-will" });
      await last.publishAsync("edge/ota-rt-gw3/state", "offline", { qos: 1, retain: true });
      await last.endAsync();
      await waitFor("the fleet knows it offline", async () => ((await (await fetch(`${fleet?.url}/devices`)).text()).includes('"online": false') ? true : undefined));
      const name = publish(releases, await buildRelease(join(work, "build"), trust, { version: "1.1.0" }));
      const res = await fetch(`${fleet?.url}/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ release: name, devices: ["ota-rt-gw3"], stages: [{ name: "all" }], failureThreshold: 0 }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
    });
    await waitFor("the offer taken", () => (rt.status().ota?.state === "switching" ? true : undefined), 20_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; fleet: ${await (await fetch(`${fleet?.url}/rollouts`)).text()} devices: ${await (await fetch(`${fleet?.url}/devices`)).text()} agent: ${JSON.stringify(rt.status().ota)}`);
    });
    await observer.endAsync(true);
    expect(statuses.map((s) => s.state)).toContain("offered");
  });
});

