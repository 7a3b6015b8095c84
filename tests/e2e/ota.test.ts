import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CliProcess, runCli } from "../helpers/cli.js";
import { waitFor } from "../helpers/ports.js";
import { DIST, FIXTURES, buildRelease, installBase, makeTrust, offerOf, startFileServer, tempDir, type FileServer } from "../helpers/ota.js";

/**
 * `edge-agent supervise` as systemd would run it: the agent it starts (a fake release) runs the real
 * updater, takes an offer, downloads and installs; the supervisor switches, health-checks, commits or
 * rolls back. `edge-agent ota status` shows where it stands.
 */
describe("edge-agent supervise + ota status", () => {
  let server: FileServer;
  const work = tempDir("ota-e2e-");
  beforeAll(async () => {
    server = await startFileServer();
  });
  afterAll(async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  const status = (root: string) => {
    const r = runCli(["ota", "status", "--install-root", root]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { state: string; installed: { agent: string | null }; previous: { agent: string | null }; floor: { agent: string | null }; error: { code: string; message: string } | null };
  };

  for (const [behavior, outcome] of [
    ["healthy", "committed"],
    ["crash", "rolled_back"],
  ] as const) {
    it(`an offer to a supervised agent ends ${outcome} when the new version is ${behavior}`, async () => {
      const root = join(work, behavior, "install");
      installBase(root, "1.0.0", "healthy");
      const trust = makeTrust(join(work, behavior, "trust"));
      const rel = await buildRelease(join(work, behavior), trust, { version: "1.1.0", behavior });
      server.put(`${behavior}.tar.gz`, rel.archive);
      const offerFile = join(work, behavior, "offer.json");
      const statusLog = join(work, behavior, "status.log");
      const agentLog = join(work, behavior, "agents.log");
      writeFileSync(agentLog, "");
      const config = join(work, behavior, "agent.yaml");
      writeFileSync(config, "# the fake agent does not read it\n");
      expect(status(root)).toMatchObject({ state: "idle", installed: { agent: "1.0.0" }, floor: { agent: null } });

      const sup = new CliProcess(["supervise", "--install-root", root, "--config", config, "--health-window", "3s", "--healthy-for", "300ms", "--log-level", "warn"], {
        env: {
          EDGE_DIST: DIST,
          FAKE_AGENT_UPDATER: join(FIXTURES, "updater-driver.mjs"),
          FAKE_AGENT_LOG: agentLog,
          OTA_INSTALL_ROOT: root,
          OTA_ROOT_FILE: trust.rootFile,
          OTA_OFFER_FILE: offerFile,
          OTA_STATUS_LOG: statusLog,
        },
      });
      try {
        await waitFor("the 1.0.0 agent", () => readFileSync(agentLog, "utf8").includes("start 1.0.0"), 10_000);
        writeFileSync(offerFile, JSON.stringify(offerOf(rel, server.url(`${behavior}.tar.gz`), { offerId: `e2e-${behavior}` })));
        const end = await waitFor(`state ${outcome}`, () => {
          const s = status(root);
          return s.state === outcome ? s : undefined;
        }, 20_000, 200);
        if (outcome === "committed") {
          expect(end).toMatchObject({ installed: { agent: "1.1.0" }, previous: { agent: "1.0.0" }, floor: { agent: "1.1.0" } });
        } else {
          expect(end).toMatchObject({ installed: { agent: "1.0.0" }, floor: { agent: null }, error: { code: "OTA_CRASHED" } });
          expect(readlinkSync(join(root, "current"))).toBe("releases/1.0.0");
        }
        // The agent that runs afterwards publishes what the supervisor queued: the fleet hears the outcome.
        await waitFor("the final status on the status topic", () => existsSync(statusLog) && readFileSync(statusLog, "utf8").includes(`"state":"${outcome}"`), 10_000, 100);
        const states = readFileSync(statusLog, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { state: string }).state);
        expect(states.filter((s, i) => s !== states[i - 1])).toEqual(["offered", "downloading", "verifying", "installing", "switching", "testing", outcome]);
        const lastStart = readFileSync(agentLog, "utf8").trim().split("\n").filter((l) => l.startsWith("start")).at(-1);
        expect(lastStart).toMatch(outcome === "committed" ? /^start 1\.1\.0/ : /^start 1\.0\.0/);
      } finally {
        expect(await sup.stop("SIGTERM", 10_000)).toBe(0);
      }
    });
  }

  it("ota status and supervise explain their usage mistakes", () => {
    expect(runCli(["ota", "status"]).code).toBe(2);
    expect(runCli(["ota", "frobnicate", "--install-root", work]).code).toBe(2);
    expect(runCli(["supervise", "--install-root", work]).code).toBe(2);
    const missing = runCli(["supervise", "--install-root", join(work, "nothing"), "--config", "x.yaml"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("install a release first");
  });
});
