import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readlinkSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StateStore, type UpdateRecord } from "../../agent/ota/state.js";
import { Updater } from "../../agent/ota/updater.js";
import { Supervisor } from "../../agent/supervisor/supervisor.js";
import { VersionFloor } from "../../agent/ota/version-floor.js";
import { waitFor } from "../helpers/ports.js";
import { DIST, FIXTURES, buildRelease, installBase, makeTrust, offerOf, startFileServer, tempDir, type FakeBehavior, type FileServer, type Trust } from "../helpers/ota.js";

interface DriverMessage {
  type: string;
  state?: string;
  pid?: number;
  version?: string | null;
  testing?: boolean;
}

/** A driver script (the real updater or supervisor from dist) in its own process, with IPC to the test. */
class Driver {
  readonly child: ChildProcess;
  readonly messages: DriverMessage[] = [];
  readonly exited: Promise<void>;
  constructor(script: string, env: NodeJS.ProcessEnv) {
    this.child = fork(join(FIXTURES, script), [], { env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m: DriverMessage) => this.messages.push(m));
    this.exited = new Promise((r) => this.child.once("exit", () => r()));
  }
  waitMessage(pred: (m: DriverMessage) => boolean, what: string, timeoutMs = 10_000): Promise<DriverMessage> {
    return waitFor(`${what} (got ${JSON.stringify(this.messages.slice(-5))})`, () => this.messages.find(pred), timeoutMs, 20);
  }
  async kill9(): Promise<void> {
    this.child.kill("SIGKILL");
    await this.exited;
  }
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The supervisor and the updater as real processes, fake agents as real child processes, kill -9 at
 * each persisted state. Every test ends with a consistent install: `current` names a complete release,
 * the old version runs unless the new one committed, and the reason for a rollback is recorded.
 */
describe("OTA supervisor and restarts", () => {
  let server: FileServer;
  const work = tempDir("ota-sup-");
  const drivers: Driver[] = [];
  let n = 0;
  beforeAll(async () => {
    server = await startFileServer();
  });
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.stop();
  });
  afterAll(async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  interface Setup {
    root: string;
    trust: Trust;
    log: string;
    offerFile: string;
    statusLog: string;
    env: NodeJS.ProcessEnv;
  }

  function setup(base: FakeBehavior = "healthy"): Setup {
    const root = join(work, `root-${++n}`);
    installBase(root, "1.0.0", base);
    const trust = makeTrust(join(work, `trust-${n}`));
    const log = join(work, `agents-${n}.log`);
    writeFileSync(log, "");
    const offerFile = join(work, `offer-${n}.json`);
    const statusLog = join(work, `status-${n}.log`);
    return { root, trust, log, offerFile, statusLog, env: { EDGE_DIST: DIST, OTA_INSTALL_ROOT: root, OTA_ROOT_FILE: trust.rootFile, FAKE_AGENT_LOG: log, OTA_OFFER_FILE: offerFile, OTA_STATUS_LOG: statusLog } };
  }

  /** The real updater for this install root, in this process, with no MQTT transport. */
  const updaterFor = (s: Setup, handover: () => void = () => undefined) =>
    new Updater({
      installRoot: s.root,
      deviceId: "gw-1",
      platform: "linux-x64",
      shippedRoot: s.trust.root,
      transport: { subscribe: () => undefined, publish: async () => undefined },
      unpack: { fsync: false },
      handover,
    });

  /** Runs the real updater in this process up to `switching` for a v2 that behaves as told. */
  async function installed(s: Setup, behavior: FakeBehavior, version = "2.0.0"): Promise<void> {
    const rel = await buildRelease(work, s.trust, { version, behavior });
    const updater = updaterFor(s);
    await updater.handleOffer(Buffer.from(JSON.stringify(offerOf(rel, serveArchive(rel.archive)))));
    updater.stop();
    expect(state(s).state).toBe("switching");
  }

  const serveArchive = (archive: Buffer) => {
    const name = `a-${++n}.tar.gz`;
    server.put(name, archive);
    return server.url(name);
  };
  const state = (s: Setup): UpdateRecord => StateStore.read(join(s.root, "ota", "state.json"))!;
  const current = (s: Setup) => readlinkSync(join(s.root, "current"));
  const starts = (s: Setup) => readFileSync(s.log, "utf8").split("\n").filter((l) => l.startsWith("start "));
  const supervise = (s: Setup, env: NodeJS.ProcessEnv = {}) => {
    const d = new Driver("supervisor-driver.mjs", { ...s.env, ...env });
    drivers.push(d);
    return d;
  };
  const terminal = (d: Driver) => d.waitMessage((m) => m.type === "state" && (m.state === "committed" || m.state === "rolled_back" || m.state === "failed"), "a final state");
  /** The agent processes the killed supervisor ran notice it went (IPC disconnect) and exit. */
  const agentsGone = async (d: Driver) => {
    const pids = d.messages.filter((m) => m.type === "agent").map((m) => m.pid!);
    await waitFor("the agents of a killed supervisor to exit", () => pids.every((p) => !alive(p)), 5000);
  };
  const consistent = (s: Setup) => {
    const target = current(s);
    expect(target).toMatch(/^releases\/\d+\.\d+\.\d+$/);
    expect(existsSync(join(s.root, target, "dist", "agent", "cli", "main.js"))).toBe(true);
    expect(readdirSync(join(s.root, "releases")).filter((f) => f.startsWith("."))).toEqual([]);
  };

  it("a healthy new version is committed: floor advances, previous kept, the new agent runs", async () => {
    const s = setup();
    await installed(s, "healthy");
    const d = supervise(s);
    const end = await terminal(d);
    expect(end.state).toBe("committed");
    expect(current(s)).toBe("releases/2.0.0");
    expect(readlinkSync(join(s.root, "previous"))).toBe("releases/1.0.0");
    expect(VersionFloor.open(join(s.root, "ota", "floor.json")).get("agent")).toBe("2.0.0");
    const agent = d.messages.filter((m) => m.type === "agent").at(-1)!;
    expect(agent).toMatchObject({ version: "2.0.0" });
    expect(alive(agent.pid!)).toBe(true);
    // The report waits in the outbox for the agent to publish it.
    const queued = readdirSync(join(s.root, "ota", "outbox")).map((f) => JSON.parse(readFileSync(join(s.root, "ota", "outbox", f), "utf8")) as { status: { state: string } });
    expect(queued.at(-1)?.status.state).toBe("committed");
  });

  it("a new version that crashes at start is rolled back; the old one runs again; the reason is recorded", async () => {
    const s = setup();
    await installed(s, "crash");
    const d = supervise(s);
    expect((await terminal(d)).state).toBe("rolled_back");
    expect(state(s).error).toMatchObject({ code: "OTA_CRASHED" });
    expect(state(s).error?.message).toMatch(/exited \(code 3\)/);
    expect(current(s)).toBe("releases/1.0.0");
    expect(VersionFloor.open(join(s.root, "ota", "floor.json")).get("agent")).toBeNull();
    const agent = await d.waitMessage((m) => m.type === "agent" && m.version === "1.0.0" && m.testing === false, "the old agent again");
    expect(alive(agent.pid!)).toBe(true);
    await waitFor("the old agent's start line", () => starts(s).at(-1)?.startsWith("start 1.0.0"), 5000);
    expect(starts(s).filter((l) => l.startsWith("start 2.0.0"))).toHaveLength(1);
  });

  it("a new version that never becomes healthy is rolled back after the window", async () => {
    const s = setup();
    await installed(s, "unhealthy");
    const d = supervise(s, { OTA_HEALTH_WINDOW_MS: "800" });
    expect((await terminal(d)).state).toBe("rolled_back");
    expect(state(s).error).toMatchObject({ code: "OTA_UNHEALTHY" });
    expect(state(s).error?.message).toMatch(/within 800 ms: its last health report said not ok/);
    expect(current(s)).toBe("releases/1.0.0");
    await d.waitMessage((m) => m.type === "agent" && m.version === "1.0.0" && m.testing === false, "the old agent again");
  });

  it("a new version that reports healthy once and then hangs is rolled back, not committed", async () => {
    const s = setup();
    await installed(s, "hang");
    // Reports are due every 100 ms (stale after 150); healthy-for 300 ms would commit on the first one.
    const d = supervise(s, { OTA_HEALTH_INTERVAL_MS: "100", OTA_HEALTHY_FOR_MS: "300", OTA_HEALTH_WINDOW_MS: "1500" });
    expect((await terminal(d)).state).toBe("rolled_back");
    expect(state(s).error).toMatchObject({ code: "OTA_UNHEALTHY" });
    expect(state(s).error?.message).toMatch(/stopped reporting health/);
    expect(current(s)).toBe("releases/1.0.0");
    expect(VersionFloor.open(join(s.root, "ota", "floor.json")).get("agent")).toBeNull();
    await d.waitMessage((m) => m.type === "agent" && m.version === "1.0.0" && m.testing === false, "the old agent again");
  });

  for (const at of ["offered", "downloading", "verifying", "installing"] as const) {
    it(`kill -9 of the agent's updater at "${at}": the restart resumes to switching, current never moved`, async () => {
      const s = setup();
      const rel = await buildRelease(work, s.trust, { version: "2.0.0" });
      writeFileSync(s.offerFile, JSON.stringify(offerOf(rel, serveArchive(rel.archive))));
      const first = new Driver("updater-driver.mjs", { ...s.env, OTA_PAUSE_AT: at });
      drivers.push(first);
      await first.waitMessage((m) => m.type === "paused" && m.state === at, `paused at ${at}`);
      await first.kill9();
      expect(state(s).state).toBe(at);
      consistent(s);
      expect(current(s)).toBe("releases/1.0.0");
      expect(existsSync(join(s.root, "releases", "2.0.0")) && at !== "installing").toBe(false);

      rmSync(s.offerFile); // the restarted agent gets no offer: it resumes from its own state file
      const again = new Driver("updater-driver.mjs", s.env);
      drivers.push(again);
      await again.waitMessage((m) => m.type === "ota-switch", "the hand-over to the supervisor");
      expect(state(s)).toMatchObject({ state: "switching", entries: { [at === "offered" ? "downloading" : at]: at === "offered" ? 1 : 2 } });
      expect(current(s)).toBe("releases/1.0.0");
      expect(existsSync(join(s.root, "releases", "2.0.0", "dist", "agent", "cli", "main.js"))).toBe(true);
      expect(existsSync(join(s.root, "ota", "downloads"))).toBe(false);
    });
  }

  it("resuming at installing hashes the archive again: one changed while the agent was down is not unpacked", async () => {
    const s = setup();
    const rel = await buildRelease(work, s.trust, { version: "2.0.0" });
    writeFileSync(s.offerFile, JSON.stringify(offerOf(rel, serveArchive(rel.archive))));
    const first = new Driver("updater-driver.mjs", { ...s.env, OTA_PAUSE_AT: "installing" });
    drivers.push(first);
    await first.waitMessage((m) => m.type === "paused" && m.state === "installing", "paused at installing");
    await first.kill9();
    const downloads = join(s.root, "ota", "downloads");
    const [archive] = readdirSync(downloads).filter((f) => f.endsWith(".tar.gz"));
    const other = await buildRelease(work, s.trust, { version: "2.0.0", behavior: "crash" });
    writeFileSync(join(downloads, archive!), other.archive);
    rmSync(s.offerFile);
    const again = new Driver("updater-driver.mjs", s.env);
    drivers.push(again);
    await waitFor("the update to fail", () => (state(s).state === "failed" ? true : undefined), 10_000);
    // Size or hash, whichever differs first: the signed manifest refuses the other archive.
    expect(["OTA_SIZE", "OTA_SHA256"]).toContain(state(s).error?.code);
    expect(existsSync(join(s.root, "releases", "2.0.0"))).toBe(false);
    expect(current(s)).toBe("releases/1.0.0");
  });

  it("an error in the hand-over after switching is durable keeps the release for the supervisor", async () => {
    const s = setup();
    const rel = await buildRelease(work, s.trust, { version: "2.0.0" });
    const updater = updaterFor(s, () => {
      throw new Error("IPC channel closed");
    });
    await updater.handleOffer(Buffer.from(JSON.stringify(offerOf(rel, serveArchive(rel.archive)))));
    updater.stop();
    expect(state(s).state).toBe("switching");
    expect(existsSync(join(s.root, "releases", "2.0.0", "dist", "agent", "cli", "main.js"))).toBe(true);
    expect((await terminal(supervise(s))).state).toBe("committed");
  });

  for (const at of ["switching", "testing", "committed"] as const) {
    it(`kill -9 of the supervisor at "${at}": the restart finishes the update (committed)`, async () => {
      const s = setup();
      await installed(s, "healthy");
      // Already at "switching" on disk: the supervisor re-enters it on start, so pausing there works too.
      const first = supervise(s, { OTA_PAUSE_AT: at });
      await first.waitMessage((m) => m.type === "state" && m.state === at, `supervisor at ${at}`);
      await first.kill9();
      await agentsGone(first);
      consistent(s);
      const second = supervise(s);
      if (at !== "committed") expect((await terminal(second)).state).toBe("committed");
      else await second.waitMessage((m) => m.type === "agent", "the agent");
      expect(state(s).state).toBe("committed");
      expect(current(s)).toBe("releases/2.0.0");
      const agent = await second.waitMessage((m) => m.type === "agent" && m.version === "2.0.0", "the new agent");
      expect(alive(agent.pid!)).toBe(true);
    });
  }

  it("power cut after the rollback intent is durable: the restart finishes the rollback, nothing is committed", async () => {
    const s = setup();
    await installed(s, "crash");
    const first = supervise(s, { OTA_PAUSE_AT: "rolling_back" });
    await first.waitMessage((m) => m.type === "state" && m.state === "rolling_back", "the rollback intent");
    await first.kill9();
    await agentsGone(first);
    expect(state(s)).toMatchObject({ state: "testing", error: { code: "OTA_CRASHED" } });
    const second = supervise(s);
    expect((await terminal(second)).state).toBe("rolled_back");
    expect(state(s).error).toMatchObject({ code: "OTA_CRASHED" });
    expect(current(s)).toBe("releases/1.0.0");
    expect(VersionFloor.open(join(s.root, "ota", "floor.json")).get("agent")).toBeNull();
    await second.waitMessage((m) => m.type === "agent" && m.version === "1.0.0" && m.testing === false, "the old agent");
    // The bad version was not started again after the power cut.
    expect(starts(s).filter((l) => l.startsWith("start 2.0.0"))).toHaveLength(1);
  });

  it("power cut after current was switched back but before rolled_back: not committed, the floor stays", async () => {
    const s = setup();
    await installed(s, "healthy");
    const first = supervise(s, { OTA_PAUSE_AT: "testing" });
    await first.waitMessage((m) => m.type === "state" && m.state === "testing", "testing");
    await first.kill9();
    await agentsGone(first);
    // What a rollback without a write-ahead intent leaves: state testing, current back on 1.0.0.
    rmSync(join(s.root, "current"));
    symlinkSync("releases/1.0.0", join(s.root, "current"));
    const second = supervise(s);
    expect((await terminal(second)).state).toBe("rolled_back");
    expect(state(s).error).toMatchObject({ code: "OTA_ROLLBACK_INTERRUPTED" });
    expect(current(s)).toBe("releases/1.0.0");
    expect(VersionFloor.open(join(s.root, "ota", "floor.json")).get("agent")).toBeNull();
    await second.waitMessage((m) => m.type === "agent" && m.version === "1.0.0" && m.testing === false, "the old agent");
  });

  it("a rollback that comes after the commit (late timer or exit) is refused: current stays, an agent runs", async () => {
    const s = setup();
    await installed(s, "healthy");
    const sup = new Supervisor({ installRoot: s.root, configFile: "/dev/null", healthWindowMs: 3000, healthyForMs: 300, stopTimeoutMs: 2000, env: { ...process.env, FAKE_AGENT_LOG: s.log } });
    try {
      await sup.start();
      await waitFor("the commit", () => state(s).state === "committed", 10_000);
      // The same call the window timer or an exit handler queued just before the commit would make.
      const late = sup as unknown as { rollback(code: string, message: string): Promise<void> };
      await late.rollback("OTA_UNHEALTHY", "a window timer that fired while the commit was queued");
      expect(state(s).state).toBe("committed");
      expect(current(s)).toBe("releases/2.0.0");
      const pid = sup.agentPid();
      expect(pid !== undefined && alive(pid)).toBe(true);
    } finally {
      await sup.stop();
    }
  });

  it("a supervisor killed in testing again and again gives up after 3 entries and rolls back", async () => {
    const s = setup();
    await installed(s, "healthy");
    // A long window and healthy-for: it never commits before we kill it.
    const slow = { OTA_PAUSE_AT: "never", OTA_HEALTHY_FOR_MS: "60000", OTA_HEALTH_WINDOW_MS: "120000" };
    for (let i = 0; i < 3; i++) {
      const d = supervise(s, slow);
      await d.waitMessage((m) => m.type === "state" && m.state === "testing", "testing");
      await d.waitMessage((m) => m.type === "agent" && m.testing === true, "the version under test");
      await d.kill9();
      await agentsGone(d);
    }
    expect(state(s).entries.testing).toBe(3);
    const last = supervise(s, slow);
    expect((await terminal(last)).state).toBe("rolled_back");
    expect(state(s).error).toMatchObject({ code: "OTA_STATE_LOOP" });
    expect(current(s)).toBe("releases/1.0.0");
    await last.waitMessage((m) => m.type === "agent" && m.version === "1.0.0", "the old agent");
  });

  it("an agent that dies after recording switching but before the hand-over message: the supervisor switches", async () => {
    const s = setup();
    const d = supervise(s);
    const old = await d.waitMessage((m) => m.type === "agent" && m.version === "1.0.0", "the agent");
    // The updater (as in the running agent) gets to `switching`; its ota-switch message never leaves.
    await installed(s, "healthy");
    process.kill(old.pid!, "SIGKILL");
    expect((await terminal(d)).state).toBe("committed");
    expect(current(s)).toBe("releases/2.0.0");
    await d.waitMessage((m) => m.type === "agent" && m.version === "2.0.0", "the new agent");
  });

  it("a corrupt ota/state.json: the supervisor moves it aside and runs current", async () => {
    const s = setup();
    mkdirSync(join(s.root, "ota"), { recursive: true });
    writeFileSync(join(s.root, "ota", "state.json"), "{ \"v\": 1, \"state\": \"testi");
    const d = supervise(s);
    const agent = await d.waitMessage((m) => m.type === "agent", "the agent");
    expect(agent).toMatchObject({ version: "1.0.0", testing: false });
    const aside = readdirSync(join(s.root, "ota")).filter((f) => f.startsWith("state.json.corrupt-"));
    expect(aside).toHaveLength(1);
    expect(existsSync(join(s.root, "ota", "state.json"))).toBe(false);
  });

  it("with no update running, a crashed agent is restarted", async () => {
    const s = setup();
    const d = supervise(s);
    const first = await d.waitMessage((m) => m.type === "agent", "the agent");
    process.kill(first.pid!, "SIGKILL");
    const second = await d.waitMessage((m) => m.type === "agent" && m.pid !== first.pid, "a restarted agent");
    expect(second.version).toBe("1.0.0");
    expect(StateStore.read(join(s.root, "ota", "state.json"))).toBeNull(); // no update was ever written
  });

  it("with no update running, a hung agent (no health reports) is killed and restarted", async () => {
    const s = setup("hang");
    const d = supervise(s, { OTA_HANG_TIMEOUT_MS: "600" });
    const first = await d.waitMessage((m) => m.type === "agent", "the agent");
    // The fake blocks its event loop for 20 s after one report: only the supervisor's SIGKILL ends it sooner.
    const second = await d.waitMessage((m) => m.type === "agent" && m.pid !== first.pid, "a restarted agent", 8000);
    expect(alive(first.pid!)).toBe(false);
    expect(second.testing).toBe(false);
    await waitFor("the restarted agent to log its start", () => starts(s).length >= 2 || undefined, 5000);
  });
});
