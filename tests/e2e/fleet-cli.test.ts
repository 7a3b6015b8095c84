import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { CliProcess, parseReadyLine, runCli } from "../helpers/cli.js";
import { waitFor } from "../helpers/ports.js";
import { api, buildReleases, startDevice, type TestReleases } from "../integration/fleet/helpers.js";

describe("edge-agent sim fleet, as an operator runs it", () => {
  let broker: TestBroker;
  let rel: TestReleases;
  beforeAll(async () => {
    broker = await startTestBroker();
    rel = await buildReleases(["2.0.0"], { payloadBytes: 5000 });
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(rel.dir, { recursive: true, force: true });
  });

  it("prints one ready line, a device table on change, and rolls a release out through its API", async () => {
    const tokens = join(rel.dir, ".tokens.json");
    writeFileSync(tokens, JSON.stringify([{ token: "cli-token-0001", group: "line-2" }]));
    const cli = new CliProcess(["sim", "fleet", "--mqtt", broker.url, "--releases", rel.dir, "--port", "0", "--share-group", "fleet", "--claim-tokens", tokens], { env: { EDGE_LOG_FORMAT: "json" } });
    const device = await (async () => {
      const ready = parseReadyLine(await cli.waitForLine(/^ready /));
      expect(ready.mqtt).toBe(broker.url);
      expect(ready.status).toBe("$share/fleet/edge/+/ota/status");
      const d = await startDevice(broker.url, "cli-gw-1", "commit", rel.releaseKey);
      await waitFor("device known", async () => ((await api<{ devices: unknown[] }>(ready.http!, "GET", "/devices")).body.devices.length === 1) || undefined);
      const r = await api<{ id: string }>(ready.http!, "POST", "/rollouts", { release: "edge-agent-2.0.0", stages: [{ name: "all" }], failureThreshold: 0 });
      expect(r.status).toBe(201);
      await waitFor("rollout completed", async () => ((await api<{ state: string }>(ready.http!, "GET", `/rollouts/${r.body.id}`)).body.state === "completed") || undefined, 20_000);
      const prov = await api<{ group: string }>(ready.http!, "POST", "/provision", { claimToken: "cli-token-0001", deviceId: "cli-gw-2", publicKey: Buffer.alloc(32, 7).toString("base64") });
      expect(prov.body.group).toBe("line-2");
      return d;
    })();
    try {
      await cli.waitForLine(/^cli-gw-1\s+online\s+-\s+committed\s+2\.0\.0/);
      await cli.waitForLine(/^rollout r-\w+ edge-agent-2\.0\.0 completed .*committed=1\/1/);
    } finally {
      await device.stop();
      expect(await cli.stop()).toBe(0);
    }
  });

  it("usage mistakes exit 2 with a hint", () => {
    const r = runCli(["sim", "fleet", "--releases", rel.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--mqtt");
    const v = runCli(["sim", "fleet", "--mqtt", broker.url, "--releases", rel.dir, "--mqtt-version", "7"]);
    expect(v.code).toBe(2);
  });
});
