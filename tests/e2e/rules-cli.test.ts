import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import type { Runtime } from "../../agent/runtime/runtime.js";
import { CliProcess, runCli } from "../helpers/cli.js";
import { plantDevices, startPlantAgent, type Plant } from "../helpers/plant.js";
import { freePort } from "../helpers/ports.js";

/** Runs the built CLI without blocking the event loop (the agent under test lives in this process). */
async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = new CliProcess(args);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), 20_000);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, stdout: p.stdout, stderr: p.stderr };
}

const T0 = Date.parse("2024-05-01T08:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

describe("edge-agent rules test: a dry run over the stored history", () => {
  let dir: string;
  let file: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "edge-dry-"));
    // The real store writes the history: the tank fills 1 % a second for 100 s, the counter stays.
    const store = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 1_000_000, maxAgeMs: 0, synchronous: "normal", history: { enabled: true, maxAgeMs: 0, maxBytes: 0 } });
    for (let s = 0; s < 100; s++) {
      const ts = T0 + s * 1000;
      store.append("telemetry", [
        { ts, json: JSON.stringify({ point: "tank.level", ts, value: s, quality: "good" }) },
        { ts, json: JSON.stringify({ point: "plc.counter", ts, value: 7, quality: "good" }) },
      ]);
    }
    store.close();
    file = join(dir, "agent.yaml");
    writeFileSync(
      file,
      `version: 1
dataDir: ${dir}
${plantDevices(5020)}rules:
  - id: tank-high
    when: tank.level > 60
    clear: tank.level < 40
    for: 5s
    actions:
      - { type: alarm, severity: critical, message: "tank at {tank.level} %" }
      - { type: write, point: pump.sp, value: 42 }
`,
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("prints what would have fired, with time, rule, action and values, then a summary", () => {
    const r = runCli(["rules", "test", "--config", file, "--from", iso(T0), "--to", iso(T0 + 200_000)]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    // 61 % is first read at 61 s; held for 5 s, the rule raises at 66 s exactly, before that second's sample.
    expect(lines[0]).toBe(`${iso(T0 + 66_000)}  tank-high  alarm raised critical "tank at 65 %"  [tank.level=65]`);
    expect(lines[1]).toBe(`${iso(T0 + 66_000)}  tank-high  write pump.sp = 42  [tank.level=65]`);
    expect(lines.at(-1)).toMatch(/^summary: 200 samples replayed \(.+\), \d+ evaluations, 2 action\(s\) would have fired \(1 alarm, 1 write\), 1 alarm\(s\) raised, 0 failed or skipped$/);
  });

  it("takes another rule file and a narrower window", () => {
    const rules = join(dir, "other.yaml");
    writeFileSync(rules, `rules:\n  - { id: low, when: tank.level < 10, actions: [{ type: event, message: "low {tank.level}" }] }\n`);
    const r = runCli(["rules", "test", "--config", file, "--rules", rules, "--from", iso(T0 + 5000), "--to", iso(T0 + 20_000)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${iso(T0 + 5000)}  low  event info "low 5"  [tank.level=5]`);
    expect(r.stdout).toMatch(/summary: 32 samples replayed/);
  });

  it("says so when the window holds no history", () => {
    const r = runCli(["rules", "test", "--config", file, "--from=-2h", "--to", "now"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/summary: 0 samples replayed/);
    expect(r.stdout).toMatch(/note: the history has no samples in this window/);
  });

  it("refuses bad times with exit 2 and a bad rule file with exit 1, naming the problem", () => {
    for (const args of [["--from", "yesterday"], ["--from", iso(T0), "--to", "later"], [], ["--from", "now", "--to=-1h"]]) {
      const r = runCli(["rules", "test", "--config", file, ...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/--from|--to/);
    }
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, `rules:\n  - { id: x, when: tank.lvl > 1 }\n`);
    const r = runCli(["rules", "test", "--config", file, "--rules", bad, "--from", iso(T0)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rule "x": when: column 1: unknown point "tank.lvl"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("edge-agent points | rules | alarms against the running agent", () => {
  let dir: string;
  let plant: Plant;
  let runtime: Runtime;
  let file: string;

  beforeAll(async () => {
    const started = await startPlantAgent("edge-cli-", 80, `rules:\n  - { id: tank-high, when: tank.level > 60, actions: [{ type: alarm, severity: major, message: "tank high" }] }\n`);
    ({ dir, plant } = started);
    runtime = started.runtime;
    file = started.file;
    // The CLI finds the API through the config: write the port it got into the file it reads.
    writeFileSync(file, `version: 1\ndataDir: ${dir}\napi: { port: ${runtime.apiAddress()?.port} }\n${plantDevices(plant.sim.port)}`);
  });

  afterAll(async () => {
    await runtime?.stop();
    await plant?.sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists, reads and writes points; the token comes from the data folder", async () => {
    const list = await cli(["points", "list", "--config", file]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^POINT\s+DEVICE\s+VALUE/);
    expect(list.stdout).toMatch(/^tank\.level\s+plc\s+80\s+%/m);
    const get = await cli(["points", "get", "pump.sp", "--config", file]);
    expect(JSON.parse(get.stdout)).toMatchObject({ id: "pump.sp", writable: true });
    const write = await cli(["points", "write", "pump.sp", "17", "--config", file]);
    expect(write.stdout.trim()).toBe("wrote pump.sp = 17 (raw 17)");
    expect(plant.pump()).toBe(17);
    const refused = await cli(["points", "write", "plc.counter", "1", "--config", file]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/not writable/);
    const noToken = await cli(["points", "write", "pump.sp", "3", "--api", `http://127.0.0.1:${runtime.apiAddress()?.port}`, "--token", "wrong"]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/Authorization: Bearer/);
  });

  it("lists and switches rules, lists and acknowledges alarms", async () => {
    const rules = await cli(["rules", "list", "--config", file]);
    expect(rules.stdout).toMatch(/^tank-high\s+config\s+yes\s+active\s+true/m);
    const alarms = await cli(["alarms", "list", "--config", file]);
    expect(alarms.stdout).toMatch(/^1\s+tank-high\s+major\s+active\s+\S+\s+tank high$/m);
    const ack = await cli(["alarms", "ack", "1", "--config", file]);
    expect(ack.stdout.trim()).toBe("alarm 1 (tank-high) is now acknowledged");
    const disable = await cli(["rules", "disable", "tank-high", "--config", file]);
    expect(disable.stdout.trim()).toBe("rule tank-high is disabled (disabled)");
    const all = await cli(["alarms", "list", "--all", "--config", file, "--json"]);
    expect(JSON.parse(all.stdout)).toMatchObject([{ id: 1, state: "cleared" }]);
    // The file now holds no rules: a reload through the CLI empties the set.
    const reload = await cli(["rules", "reload", "--config", file]);
    expect(reload.stdout.trim()).toBe("rules reloaded: 0 rule(s), 0 virtual point(s)");
  });

  it("says the agent is not running, with the address it tried, and exits 1", async () => {
    const port = await freePort();
    const r = await cli(["rules", "list", "--api", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`is the agent running? tried http://127.0.0.1:${port}/rules`);
    const usage = await cli(["alarms", "ack", "first"]);
    expect(usage.code).toBe(2);
  });
});
