import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import type { Runtime } from "../../agent/runtime/runtime.js";
import { Plant, apiOf, plantDevices, startAgentFromFile } from "../helpers/plant.js";
import { waitFor } from "../helpers/ports.js";

interface RuleRow {
  id: string;
  source: string;
  enabled: boolean;
  state: string;
  evaluations: number;
}
interface AlarmRow {
  id: number;
  rule: string;
  state: string;
  severity: string;
}

describe("rules in the running agent (real Modbus simulator, real SQLite)", () => {
  let dir: string;
  let plant: Plant | undefined;
  let runtime: Runtime | undefined;

  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
    await plant?.sim.stop();
    plant = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const configWith = (port: number, rules: string) => `version: 1
device: { id: rules-gw }
dataDir: ${dir}
api: { port: 0 }
store: { commitDelayMs: 0 }
${plantDevices(port)}${rules}`;

  /** A fresh folder and plant at `level`, and an agent with these rules. */
  const setup = async (level: number, rules: string) => {
    dir = mkdtempSync(join(tmpdir(), "edge-rules-"));
    plant = await Plant.start();
    plant.setLevel(level);
    const started = await startAgentFromFile(dir, configWith(plant.sim.port, rules));
    runtime = started.runtime;
    return { ...started, plant };
  };

  it("a write action reaches the device: tank level above the limit writes the pump setpoint", async () => {
    const { api, plant } = await setup(
      20,
      `rules:
  - id: tank-high
    when: tank.level > 60
    clear: tank.level < 40
    actions:
      - { type: write, point: pump.sp, value: "tank.level / 2", on: raise }
      - { type: write, point: pump.sp, value: 5, on: clear }
`,
    );
    await waitFor("the level read at 20", () => (runtime?.points().find((p) => p.id === "tank.level")?.latest?.value === 20 ? true : undefined));
    expect(plant.pump()).toBe(0);
    plant.setLevel(80);
    await waitFor("the pump setpoint written by the rule", () => (plant.pump() === 40 ? true : undefined));
    plant.setLevel(30);
    await waitFor("the clear action's write", () => (plant.pump() === 5 ? true : undefined));
    const rule = (await apiOf(api, null).get("/rules/tank-high")).body as unknown as RuleRow;
    expect(rule).toMatchObject({ id: "tank-high", source: "config", enabled: true, state: "inactive" });
  });

  it("an alarm survives a restart on the same data folder, is acknowledged through the API, then clears", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-rules-"));
    plant = await Plant.start();
    plant.setLevel(80);
    const yaml = configWith(
      plant.sim.port,
      `rules:
  - id: tank-high
    when: tank.level > 60
    actions: [{ type: alarm, severity: critical, message: "tank at {tank.level} %" }]
`,
    );
    let started = await startAgentFromFile(dir, yaml);
    runtime = started.runtime;
    let api = apiOf(started.api, started.token);
    const raised = await waitFor("the alarm raised", async () => {
      const list = (await api.get("/alarms")).body as unknown as AlarmRow[];
      return list.length === 1 ? list[0] : undefined;
    });
    expect(raised).toMatchObject({ rule: "tank-high", state: "active", severity: "critical", message: "tank at 80 %" });

    await runtime.stop();
    runtime = undefined;
    started = await startAgentFromFile(dir, yaml);
    runtime = started.runtime;
    api = apiOf(started.api, started.token);
    // Still active after the restart, and the rule resumed active instead of raising a second alarm.
    expect((await api.get("/alarms")).body).toMatchObject([{ id: raised.id, state: "active" }]);
    await waitFor("the level read again", () => (runtime?.points().find((p) => p.id === "tank.level")?.latest ? true : undefined));
    expect((await api.get("/rules/tank-high")).body).toMatchObject({ state: "active" });
    expect(runtime.status().rules.alarmsActive.critical).toBe(1);

    const ack = await api.post(`/alarms/${raised.id}/ack`, { by: "operator-7" });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({ id: raised.id, state: "acknowledged", ackBy: "operator-7" });
    expect((await api.post(`/alarms/${raised.id}/ack`)).body).toMatchObject({ error: { code: "alarm_state" } });
    expect((await api.post("/alarms/999/ack")).status).toBe(404);

    plant.setLevel(30);
    await waitFor("the alarm closed", async () => (((await api.get("/alarms")).body as unknown as AlarmRow[]).length === 0 ? true : undefined));
    const all = (await api.get("/alarms?state=all")).body as unknown as AlarmRow[];
    expect(all).toMatchObject([{ id: raised.id, state: "cleared" }]);
    expect((await api.get("/alarms?state=bogus")).status).toBe(400);

    await runtime.stop();
    runtime = undefined;
    // Every change went to the outbox for the alarms topic, in order.
    const db = new Database(join(dir, "edge.db"), { readonly: true });
    const bodies = db.prepare("SELECT body FROM outbox WHERE kind = 'alarm' ORDER BY first_seq").all() as Array<{ body: string }>;
    db.close();
    const types = bodies.flatMap((b) => (JSON.parse(b.body) as Array<{ type: string }>).map((r) => r.type));
    expect(types).toEqual(["alarm.raised", "alarm.acknowledged", "alarm.cleared"]);
  });

  it("hot reload: a bad rule set is refused with every problem and the old rules keep evaluating; a good one replaces them", async () => {
    const started = await setup(20, "rules:\n  - { id: tank-high, when: tank.level > 60 }\n");
    const { plant } = started;
    const api = apiOf(started.api, started.token);
    writeFileSync(
      started.file,
      configWith(
        plant.sim.port,
        `rules:
  - id: tank-high
    when: tank.levle > 60
  - id: pump-guard
    when: tank.level >
  - id: counter-write
    when: tank.level > 1
    actions: [{ type: write, point: plc.counter, value: 1 }]
`,
      ),
    );
    const refused = await api.post("/rules/reload");
    expect(refused.status).toBe(400);
    const error = (refused.body as unknown as { error: { code: string; problems: string[] } }).error;
    expect(error.code).toBe("rules_invalid");
    expect(error.problems).toHaveLength(3);
    expect(error.problems.join("\n")).toMatch(/rules\[0\]\.when: rule "tank-high": column 1: unknown point "tank.levle"/);
    expect(error.problems.join("\n")).toMatch(/rules\[1\]\.when: rule "pump-guard": column \d+: /);
    expect(error.problems.join("\n")).toMatch(/rules\[2\]\.actions\[0\]: rule "counter-write": point "plc.counter" is not writable/);

    // The old rule is still loaded and still evaluating: moving the level moves its state.
    const list = (await api.get("/rules")).body as unknown as RuleRow[];
    expect(list.map((r) => r.id)).toEqual(["tank-high"]);
    plant.setLevel(80);
    await waitFor("the old rule active", async () => ((await api.get("/rules/tank-high")).body.state === "active" ? true : undefined));

    writeFileSync(
      started.file,
      configWith(
        plant.sim.port,
        `virtualPoints: [{ id: tank.half }]
rules:
  - id: tank-high
    when: tank.level > 60
  - id: halve
    when: known(tank.level)
    actions: [{ type: set, point: tank.half, value: "tank.level / 2", on: active }]
`,
      ),
    );
    const ok = await api.post("/rules/reload");
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ ok: true, virtualPoints: 1 });
    // The unchanged rule kept its state; the virtual point is stored like a reading.
    expect((await api.get("/rules/tank-high")).body.state).toBe("active");
    plant.setLevel(50);
    await waitFor("the virtual point set", () => (runtime?.points().find((p) => p.id === "tank.half")?.latest?.value === 25 ? true : undefined));
    expect((await api.get("/points/tank.half")).body).toMatchObject({ device: "rules", writable: false });
  });

  it("rules created through the API are validated, persisted with their source, switched, and survive a restart", async () => {
    const fileRules = `rules:\n  - { id: from-file, when: tank.level > 90 }\n`;
    let started = await setup(20, fileRules);
    const { plant } = started;
    const yaml = configWith(plant.sim.port, fileRules);
    let api = apiOf(started.api, started.token);

    const bad = await api.post("/rules", { id: "api-1", when: "tank.level > ", actions: [{ type: "write", point: "nope", value: 1 }] });
    expect(bad.status).toBe(400);
    expect((bad.body as unknown as { error: { problems: string[] } }).error.problems).toHaveLength(2);
    expect((await api.post("/rules", { id: "api-1", when: 5 })).status).toBe(400);

    const created = await api.post("/rules", { id: "api-1", when: "tank.level > 10", actions: [{ type: "write", point: "pump.sp", value: 11 }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: "api-1", source: "api", definition: { when: "tank.level > 10" } });
    await waitFor("the API rule's write", () => (plant.pump() === 11 ? true : undefined));
    expect((await api.post("/rules", { id: "api-1", when: "tank.level > 10" })).status).toBe(409);
    expect((await api.put("/rules/from-file", { when: "tank.level > 1" })).body).toMatchObject({ error: { code: "rule_from_config" } });
    expect((await api.del("/rules/from-file")).status).toBe(409);

    const replaced = await api.put("/rules/api-2", { when: "tank.level > 95" });
    expect(replaced.status).toBe(200);
    expect((await api.post("/rules/from-file/disable")).body).toMatchObject({ enabled: false, state: "disabled" });
    expect((await api.del("/rules/api-2")).status).toBe(200);
    expect((await api.get("/rules/api-2")).status).toBe(404);

    await started.runtime.stop();
    runtime = undefined;
    started = { ...(await startAgentFromFile(dir, yaml)), plant };
    runtime = started.runtime;
    api = apiOf(started.api, started.token);
    const rules = (await api.get("/rules")).body as unknown as RuleRow[];
    expect(rules.map((r) => [r.id, r.source, r.enabled])).toEqual([
      ["from-file", "config", false],
      ["api-1", "api", true],
    ]);
    expect((await api.post("/rules/from-file/enable")).body).toMatchObject({ enabled: true });
  });
});
