import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import mqtt from "mqtt";
import Database from "better-sqlite3";
import { CliProcess, REPO } from "../helpers/cli.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import { waitFor } from "../helpers/ports.js";

describe("edge-agent run --config (the agent as a gateway runs it)", () => {
  let broker: TestBroker | undefined;
  let sim: ModbusSimulator | undefined;
  let dir: string;
  afterEach(async () => {
    await sim?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("publishes telemetry, then on SIGTERM stops cleanly: exit 0, device offline, every stored row accounted for", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-run-"));
    broker = await startTestBroker();
    sim = await startModbusSimulator({ port: 0 });
    const file = join(dir, "agent.yaml");
    writeFileSync(
      file,
      `version: 1
device: { id: run-gw }
dataDir: ${join(dir, "data")}
mqtt: { url: "${broker.url}", batch: { maxDelayMs: 100 } }
api: { port: 0 }
devices:
  - id: plc
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${sim.port}
    pollMs: 100
    points:
      - { id: plc.counter, register: 2, type: uint32 }
`,
    );
    const observer = await mqtt.connectAsync(broker.url, { clientId: "run-observer" });
    const seqs: number[] = [];
    const states: string[] = [];
    observer.on("message", (topic, p) => {
      if (topic.endsWith("/state")) states.push(p.toString());
      else seqs.push(...(JSON.parse(p.toString()) as { samples: Array<{ seq: number }> }).samples.map((s) => s.seq));
    });
    await observer.subscribeAsync(["edge/run-gw/telemetry", "edge/run-gw/state"], { qos: 1 });

    const agent = new CliProcess(["run", "--config", file, "--log-format", "json"]);
    await waitFor("telemetry from the agent", () => (seqs.length >= 5 ? true : undefined), 15_000);
    // JSON log lines, each naming its component.
    const lines = agent.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { component?: string; msg: string });
    expect(lines.some((l) => l.component === "store" && l.msg === "store open")).toBe(true);
    expect(lines.some((l) => l.component === "uplink" && l.msg === "uplink connected")).toBe(true);

    expect(await agent.stop("SIGTERM")).toBe(0);
    await waitFor("offline state", () => (states.at(-1) === "offline" ? true : undefined), 5000);
    await observer.endAsync(true);
    // Everything committed either reached the observer or is still in the outbox: nothing vanished.
    // A clean stop folds the WAL back into the database file: one self-contained file remains.
    const wal = join(dir, "data", "edge.db-wal");
    expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0);
    const db = new Database(join(dir, "data", "edge.db"), { readonly: true });
    const last = Number((db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: string }).value) - 1;
    const pending = (db.prepare("SELECT first_seq, count FROM outbox").all() as Array<{ first_seq: number; count: number }>).flatMap((r) =>
      Array.from({ length: r.count }, (_, i) => r.first_seq + i),
    );
    db.close();
    const have = new Set([...seqs, ...pending]);
    for (let s = 1; s <= last; s++) expect(have.has(s), `seq ${s}`).toBe(true);
  });

  it("exits at once on a second signal while a clean stop is still running", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-run-"));
    // A stop that never finishes stands in for a hung component; the guard itself is the real one.
    const script = `
      import { installShutdownHandlers } from ${JSON.stringify(join(REPO, "dist/agent/runtime/process-guards.js"))};
      import { pino } from "pino";
      installShutdownHandlers({ logger: pino({ level: "silent" }), stop: () => new Promise(() => {}) });
      console.log("armed");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
    await waitFor("armed", () => (out.includes("armed") ? true : undefined));
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 200));
    expect(child.exitCode).toBeNull();
    child.kill("SIGINT");
    expect(await exited).toBe(130);
  });

  it("survives a stray exception from a library callback", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-run-"));
    const script = `
      import { installCrashGuards } from ${JSON.stringify(join(REPO, "dist/agent/runtime/process-guards.js"))};
      import { pino } from "pino";
      installCrashGuards(pino({ level: "silent" }));
      setTimeout(() => { throw new Error("device sent garbage"); }, 10);
      setTimeout(() => Promise.reject(new Error("rejected")), 20);
      setTimeout(() => { console.log("still alive"); process.exit(0); }, 200);
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: REPO, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
    expect(code).toBe(0);
    expect(out).toContain("still alive");
  });
});
