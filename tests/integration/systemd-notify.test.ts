import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SystemdNotifier } from "../../agent/systemd/notify.js";
import { CliProcess } from "../helpers/cli.js";
import { FakeSystemd } from "../helpers/fake-systemd.js";
import { capturingLogger } from "../helpers/logger.js";
import { installBase, tempDir } from "../helpers/ota.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The systemd notify protocol through the real systemd-notify(1) into a real unix datagram socket:
 * what `systemctl status` shows, what Type=notify waits for, and the WatchdogSec= pings that make
 * systemd restart a hung service.
 */
describe("systemd notify and watchdog", () => {
  const work = tempDir("systemd-");
  let fake: FakeSystemd;
  const cleanup: (() => unknown)[] = [];
  beforeAll(async () => {
    fake = await FakeSystemd.start(work);
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0)) await f();
    fake.messages.length = 0;
  });
  afterAll(() => {
    fake.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const notifier = (env: NodeJS.ProcessEnv, command?: string) => {
    const log = capturingLogger();
    const n = SystemdNotifier.fromEnv(env, log.logger, command);
    if (n) cleanup.push(() => n.stopWatchdog());
    return { n, log };
  };

  it("not started by systemd (no NOTIFY_SOCKET): no notifier at all", () => {
    expect(notifier({}).n).toBeNull();
  });

  it("READY=1 with a status reaches the manager; a newline cannot split the message", async () => {
    const { n } = notifier(fake.env());
    await n!.ready("running\nFAKE=1");
    const m = await fake.waitFor("READY=1", (f) => f.READY === "1");
    expect(m.STATUS).toBe("running FAKE=1");
    expect(m.FAKE).toBeUndefined();
    expect(n!.watchdogIntervalMs).toBeNull(); // no WATCHDOG_USEC: no pings
  });

  it("pings the watchdog every half WATCHDOG_USEC while not stuck, and withholds pings (logged) while stuck", async () => {
    let stuck: string | null = null;
    const { n, log } = notifier(fake.env(300));
    expect(n!.watchdogIntervalMs).toBe(150);
    n!.startWatchdog(() => stuck);
    await sleep(1000);
    const pinged = fake.count("WATCHDOG");
    expect(pinged).toBeGreaterThanOrEqual(4);
    stuck = "the agent will not die";
    await sleep(400); // a ping in flight may still land
    const before = fake.count("WATCHDOG");
    await sleep(600);
    expect(fake.count("WATCHDOG")).toBe(before);
    expect(log.lines().filter((l) => /NOT PINGING THE SYSTEMD WATCHDOG/.test(l.msg ?? ""))).toHaveLength(1); // once, not per tick
    stuck = null;
    await sleep(500);
    expect(fake.count("WATCHDOG")).toBeGreaterThan(before);
  });

  it("a WATCHDOG_PID naming another process: the watchdog is not ours to ping", async () => {
    const { n } = notifier({ ...fake.env(200), WATCHDOG_PID: String(process.pid + 1) });
    expect(n!.watchdogIntervalMs).toBeNull();
    n!.startWatchdog();
    await sleep(400);
    expect(fake.count("WATCHDOG")).toBe(0);
  });

  it("no systemd-notify on the machine: one clear error, no exception, later messages still tried", async () => {
    const { n, log } = notifier(fake.env(200), join(work, "no-such-systemd-notify"));
    await n!.ready("up");
    await n!.status("still up");
    const errors = log.lines().filter((l) => /cannot notify systemd/.test(l.msg ?? ""));
    expect(errors).toHaveLength(1);
    expect(String(errors[0]?.err)).toMatch(/not found/);
    expect(String(errors[0]?.msg)).toMatch(/restart the service/);
  });

  it("edge-agent supervise: READY=1 and the agent's state, watchdog pings, STOPPING=1 on SIGTERM; the agent does not inherit the socket", async () => {
    const root = join(work, "install");
    installBase(root, "1.0.0", "healthy");
    const agentLog = join(work, "agents.log");
    writeFileSync(agentLog, "");
    const p = new CliProcess(["supervise", "--install-root", root, "--config", "/dev/null"], { env: { ...fake.env(400), FAKE_AGENT_LOG: agentLog } });
    cleanup.push(() => p.stop("SIGKILL"));
    const ready = await fake.waitFor("READY=1 from the supervisor", (f) => f.READY === "1");
    expect(ready.STATUS).toMatch(/^agent 1\.0\.0 running \(pid \d+\)$/);
    await fake.waitFor("three watchdog pings", () => fake.count("WATCHDOG") >= 3);
    expect(await p.stop("SIGTERM")).toBe(0);
    const stopping = await fake.waitFor("STOPPING=1", (f) => f.STOPPING === "1");
    expect(stopping.STATUS).toBe("stopping");
    const lines = readFileSync(agentLog, "utf8");
    expect(lines).toMatch(/^start 1\.0\.0 \d+$/m);
    expect(lines).not.toMatch(/notify-env/);
  });

  it("edge-agent run started directly by systemd: READY=1 once running, then watchdog pings", async () => {
    const file = join(work, "run.yaml");
    writeFileSync(file, `version: 1\ndataDir: ${join(work, "run-data")}\napi: { enabled: false }\n`);
    const p = new CliProcess(["run", "--config", file], { env: fake.env(400) });
    cleanup.push(() => p.stop("SIGKILL"));
    const ready = await fake.waitFor("READY=1 from the agent", (f) => f.READY === "1", 20_000);
    expect(ready.STATUS).toMatch(/^running .+: 0 devices$/);
    await fake.waitFor("two watchdog pings", () => fake.count("WATCHDOG") >= 2);
    expect(await p.stop("SIGTERM")).toBe(0);
    await fake.waitFor("STOPPING=1", (f) => f.STOPPING === "1");
  });
});
