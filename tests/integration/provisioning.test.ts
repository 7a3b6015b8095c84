import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Aedes } from "aedes";
import { startFleetServer, type FleetServer } from "../../simulators/fleet/index.js";
import { CliProcess, type CliResult } from "../helpers/cli.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";

/**
 * Zero-touch provisioning against the real fleet server simulator, with the agent as a user runs it.
 * The broker is an aedes instance with authentication: a gateway gets in only with the username and
 * password the fleet handed out, so "the agent uses the provisioned credentials" is checked by the
 * broker itself, not by reading the agent's config.
 */

interface Connect {
  clientId: string;
  username: string | undefined;
  accepted: boolean;
}

interface AuthBroker {
  url: string;
  connects: Connect[];
  /** username -> password the broker accepts (filled from what the fleet handed out). */
  accounts: Map<string, string>;
  stop(): Promise<void>;
}

async function startAuthBroker(): Promise<AuthBroker> {
  const connects: Connect[] = [];
  const accounts = new Map<string, string>();
  const aedes = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      // The fleet server itself connects anonymously; any named client must match an account.
      const accepted = username === undefined || (accounts.has(username) && accounts.get(username) === password?.toString());
      connects.push({ clientId: client.id, username, accepted });
      if (accepted) done(null, true);
      else done(Object.assign(new Error("bad user name or password"), { returnCode: 4 }), false);
    },
  });
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    aedes.handle(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    connects,
    accounts,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => aedes.close(() => r()));
    },
  };
}

/** Runs the CLI without blocking: the fleet server answers from this same process (spawnSync would stall it). */
async function runCli(args: string[], o: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const p = new CliProcess(args, o);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout, stderr: p.stderr };
}

interface LogLine {
  level: number;
  msg?: string;
  code?: string;
  err?: string;
  deviceId?: string;
  group?: string;
}

function logLines(text: string): LogLine[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

describe("zero-touch provisioning against the fleet server simulator", () => {
  let broker: AuthBroker;
  let fleet: FleetServer;
  let proofFleet: FleetServer;
  const dir = mkdtempSync(join(tmpdir(), "edge-provisioning-"));
  const running: CliProcess[] = [];

  beforeAll(async () => {
    broker = await startAuthBroker();
    fleet = await startFleetServer({
      mqttUrl: broker.url,
      mqttVersion: 4, // aedes speaks MQTT 3.1.1
      releasesDir: dir,
      claimTokens: [{ token: "line3-token-0001", group: "line-3" }, { token: "spent-token-0002" }, { token: "refused-run-0003" }],
      logger: testLogger(),
    });
    proofFleet = await startFleetServer({ mqttUrl: broker.url, mqttVersion: 4, releasesDir: dir, claimTokens: [{ token: "proof-token-0004", group: "line-4" }], requireProof: true, logger: testLogger() });
  });
  afterAll(async () => {
    await Promise.all(running.map((p) => p.stop("SIGKILL")));
    await fleet?.stop();
    await proofFleet?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function config(name: string, fleetUrl: string, token: string, extra = ""): { file: string; dataDir: string } {
    const dataDir = join(dir, `${name}-data`);
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `version: 1
dataDir: ${dataDir}
log: { level: info }
api: { enabled: false }
provisioning:
  url: ${fleetUrl}
  claimToken: \${EDGE_TEST_CLAIM_TOKEN}
  timeoutMs: 5000
${extra}`,
    );
    writeFileSync(`${file}.token`, token);
    return { file, dataDir };
  }

  function startAgent(file: string): CliProcess {
    const p = new CliProcess(["run", "--config", file], { env: { EDGE_TEST_CLAIM_TOKEN: readFileSync(`${file}.token`, "utf8") } });
    running.push(p);
    return p;
  }

  it("claims once, stores the credentials 0600, connects with them, and reuses them on the next start without a second claim", async () => {
    const { file, dataDir } = config("first", fleet.url, "line3-token-0001", "mqtt: { url: 'mqtt://127.0.0.1:1', username: from-config, password: from-config }\n");
    // The broker learns the account only when the fleet hands it out (the test plays the broker admin).
    const agent = startAgent(file);
    const record = await waitFor(
      "provisioning.json",
      () => {
        try {
          return JSON.parse(readFileSync(join(dataDir, "provisioning.json"), "utf8")) as { deviceId: string; group: string; mqtt: { url: string; username: string; password: string } };
        } catch {
          return undefined;
        }
      },
      15_000,
    );
    broker.accounts.set(record.mqtt.username, record.mqtt.password);
    expect(record.group).toBe("line-3");
    expect(record.mqtt.url).toBe(broker.url);
    expect(statSync(join(dataDir, "provisioning.json")).mode & 0o777).toBe(0o600);
    expect(fleet.provisioner.provisioned().map((d) => d.deviceId)).toEqual([record.deviceId]);
    const id = await runCli(["identity", "--data-dir", dataDir]);
    expect(id.stdout).toContain(`id: ${record.deviceId}`);

    // Provisioned url/username/password win over the config's mqtt section (mqtt://127.0.0.1:1 would never connect).
    await waitFor("an accepted connection as the provisioned user", () => broker.connects.some((c) => c.username === record.mqtt.username && c.accepted) || undefined, 20_000);
    expect(broker.connects.some((c) => c.username === "from-config")).toBe(false);
    expect(await agent.stop("SIGTERM")).toBe(0);
    expect(logLines(agent.stdout).some((l) => l.msg === "provisioned" && l.group === "line-3")).toBe(true);

    const claimsBefore = fleet.provisioner.tokenSummary();
    const again = startAgent(file);
    const acceptedBefore = broker.connects.filter((c) => c.accepted && c.username === record.mqtt.username).length;
    await again.waitForLine(/"msg":"agent running"/);
    await waitFor("a second accepted connection", () => broker.connects.filter((c) => c.accepted && c.username === record.mqtt.username).length > acceptedBefore || undefined, 20_000);
    expect(await again.stop("SIGTERM")).toBe(0);
    const lines = logLines(again.stdout);
    expect(lines.some((l) => l.msg === "using stored provisioning")).toBe(true);
    expect(lines.some((l) => l.msg?.startsWith("no stored credentials"))).toBe(false);
    expect(fleet.provisioner.tokenSummary()).toEqual(claimsBefore);
    expect(fleet.provisioner.provisioned()).toHaveLength(1);
  });

  it("a reused token (409) is a clear error: provision exits 1, the agent logs it and keeps running on local storage", async () => {
    // Someone else already claimed with this token.
    const res = await fetch(`${fleet.url}/provision`, {
      method: "POST",
      body: JSON.stringify({ claimToken: "spent-token-0002", deviceId: "gw-other", publicKey: Buffer.alloc(32, 7).toString("base64") }),
    });
    expect(res.status).toBe(200);
    const { file, dataDir } = config("reused", fleet.url, "spent-token-0002");
    const r = await runCli(["provision", "--config", file], { env: { EDGE_TEST_CLAIM_TOKEN: "spent-token-0002" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PROVISION_REFUSED: .*claim token already used.*ask the fleet operator for a new one/);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);

    const agent = startAgent(file);
    await agent.waitForLine(/"msg":"agent running"/);
    await new Promise((res) => setTimeout(res, 500));
    expect(agent.child.exitCode).toBeNull();
    expect(await agent.stop("SIGTERM")).toBe(0);
    const failed = logLines(agent.stdout).find((l) => l.msg?.startsWith("provisioning failed"));
    expect(failed).toMatchObject({ code: "PROVISION_REFUSED" });
    expect(failed?.err).toContain("already used");
    expect(() => statSync(join(dataDir, "provisioning.json"))).toThrow();
    expect(statSync(join(dataDir, "edge.db")).size).toBeGreaterThan(0);
  });

  it("a wrong token (403) is refused with a hint, and spends nothing", async () => {
    const { file, dataDir } = config("wrong", fleet.url, "no-such-token-9999");
    const before = fleet.provisioner.tokenSummary();
    const r = await runCli(["provision", "--config", file], { env: { EDGE_TEST_CLAIM_TOKEN: "no-such-token-9999" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PROVISION_REFUSED: .*unknown claim token.*check provisioning.claimToken/);
    expect(fleet.provisioner.tokenSummary()).toEqual(before);
    expect(() => statSync(join(dataDir, "provisioning.json"))).toThrow();
  });

  it("signs the fleet's nonce when the fleet requires proof of the key, by hand with edge-agent provision", async () => {
    const { file, dataDir } = config("proof", proofFleet.url, "proof-token-0004");
    const r = await runCli(["provision", "--config", file], { env: { EDGE_TEST_CLAIM_TOKEN: "proof-token-0004" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^provisioned: gw-[0-9a-f]{12} in group line-4, broker mqtt:\/\/127\.0\.0\.1:\d+ as gw-/);
    const device = proofFleet.provisioner.provisioned()[0];
    const identity = JSON.parse(readFileSync(join(dataDir, "identity.json"), "utf8")) as { publicKey: string };
    expect(device?.publicKey).toBe(identity.publicKey);
    // Again: stored, nothing sent.
    const again = await runCli(["provision", "--config", file], { env: { EDGE_TEST_CLAIM_TOKEN: "proof-token-0004" } });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already provisioned: /);
  });
});
