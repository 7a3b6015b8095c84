import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fork } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import { CLI } from "../helpers/cli.js";
import { tempDir } from "../helpers/ota.js";
import { waitFor } from "../helpers/ports.js";

/**
 * The agent's health reports to `edge-agent supervise` start before it is running: a start-up that
 * waits on the network (provisioning against a fleet server that never answers) reports "not ok yet"
 * every interval, so the supervisor can tell it from a hang, which it kills.
 */
describe("agent health over IPC during a slow start", () => {
  const dir = tempDir("health-ipc-");
  const sockets: Socket[] = [];
  const silent = createServer((s) => void sockets.push(s)); // accepts, never answers
  afterAll(() => {
    for (const s of sockets) s.destroy();
    silent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeAll(() => new Promise<void>((r) => silent.listen(0, "127.0.0.1", r)));

  /** A config whose start waits on the silent fleet for 7 s. */
  const slowConfig = (name: string): string => {
    const port = (silent.address() as { port: number }).port;
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `version: 1\ndataDir: ${join(dir, name)}\napi: { enabled: false }\nprovisioning:\n  url: http://127.0.0.1:${port}\n  claimToken: token-0001\n  timeoutMs: 7000\n`);
    return file;
  };

  it("reports not ok (config loaded) while provisioning waits, then ok once running", async () => {
    const file = slowConfig("slow");
    const messages: { type: string; ok?: boolean; configLoaded?: boolean; at: number }[] = [];
    const t0 = Date.now();
    const child = fork(CLI, ["run", "--config", file], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    child.on("message", (m) => messages.push({ ...(m as { type: string; ok?: boolean; configLoaded?: boolean }), at: Date.now() - t0 }));
    try {
      const early = await waitFor("a health report while starting", () => messages.find((m) => m.type === "health"), 15_000);
      expect(early).toMatchObject({ ok: false, configLoaded: true });
      expect(messages.some((m) => m.type === "ready")).toBe(false); // still provisioning
      await waitFor("ready after the provisioning attempt gave up", () => messages.find((m) => m.type === "ready"), 30_000);
      await waitFor("an ok report once running", () => messages.find((m) => m.type === "health" && m.ok === true), 10_000);
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);

  it("SIGTERM while the start waits on the network is a clean stop (exit 0), not a kill", async () => {
    const child = fork(CLI, ["run", "--config", slowConfig("stopped")], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    try {
      await new Promise<void>((r) => child.once("message", () => r())); // the first health report: running its start
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  }, 30_000);
});
