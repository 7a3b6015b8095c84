import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Runtime } from "../../agent/runtime/runtime.js";
import type { ApiContext } from "../../agent/api/context.js";
import { systemRoutes } from "../../agent/api/routes/system.js";
import { pointRoutes } from "../../agent/api/routes/points.js";
import { ruleRoutes } from "../../agent/api/routes/rules.js";
import { alarmRoutes } from "../../agent/api/routes/alarms.js";
import { logLevelRoutes } from "../../agent/api/routes/log-level.js";
import { dashboardRoutes } from "../../agent/api/routes/dashboard.js";
import { startPlantAgent, type Plant } from "../helpers/plant.js";

/** Every state-changing route, with a concrete path and a body that would otherwise be accepted. */
const changes: Array<[method: string, path: string, body?: unknown]> = [
  ["POST", "/points/pump.sp/write", { value: 3 }],
  ["POST", "/rules", { id: "new-rule", when: "tank.level > 1" }],
  ["PUT", "/rules/new-rule", { when: "tank.level > 2" }],
  ["DELETE", "/rules/tank-high"],
  ["POST", "/rules/tank-high/enable"],
  ["POST", "/rules/tank-high/disable"],
  ["POST", "/rules/reload"],
  ["POST", "/alarms/1/ack"],
  ["PUT", "/log-level", { level: "debug" }],
];
const reads = ["/health", "/status", "/metrics", "/points", "/points/tank.level", "/devices", "/devices/plc", "/rules", "/rules/tank-high", "/alarms", "/alarms?state=all", "/outbox", "/ota", "/log-level", "/", "/dashboard/app.js"];

describe("local API: the token guards every change, reads stay open", () => {
  let dir: string;
  let plant: Plant;
  let runtime: Runtime;
  let api: string;

  beforeAll(async () => {
    const started = await startPlantAgent("edge-auth-", 80, "rules:\n  - { id: tank-high, when: tank.level > 60, actions: [{ type: alarm }] }\n", "device: { id: auth-gw }\n");
    ({ dir, plant, runtime, api } = started);
  });

  afterAll(async () => {
    await runtime?.stop();
    await plant?.sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the list covers every route that is not a GET (a new one must be added here)", () => {
    const all = [...systemRoutes({} as ApiContext), ...pointRoutes({} as ApiContext), ...ruleRoutes({} as ApiContext), ...alarmRoutes({} as ApiContext), ...logLevelRoutes({} as ApiContext), ...dashboardRoutes()];
    const changing = all.filter((r) => r.method !== "GET");
    expect(changing.every((r) => r.guarded)).toBe(true);
    for (const r of changing) {
      expect(changes.some(([m, p]) => m === r.method && r.path.test(p.split("?")[0] ?? "")), `${r.method} ${String(r.path)}`).toBe(true);
    }
  });

  it("answers 401 without a token and with a wrong one, and changes nothing", async () => {
    const before = { pump: plant.pump(), rules: await (await fetch(`${api}/rules`)).text(), logLevel: await (await fetch(`${api}/log-level`)).json() };
    for (const [method, path, body] of changes) {
      for (const auth of [undefined, "Bearer wrong-token", "Basic abc"]) {
        const res = await fetch(api + path, {
          method,
          headers: { ...(auth ? { authorization: auth } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        expect(res.status, `${method} ${path} with ${auth ?? "no token"}`).toBe(401);
        expect(await res.json()).toMatchObject({ error: { code: "unauthorized" } });
      }
    }
    expect(plant.pump()).toBe(before.pump);
    expect(await (await fetch(`${api}/log-level`)).json()).toEqual(before.logLevel);
    const after = JSON.parse(await (await fetch(`${api}/rules`)).text()) as Array<{ id: string; enabled: boolean }>;
    expect(after.map((r) => [r.id, r.enabled])).toEqual((JSON.parse(before.rules) as Array<{ id: string; enabled: boolean }>).map((r) => [r.id, r.enabled]));
    expect((await (await fetch(`${api}/alarms`)).json()) as unknown[]).toMatchObject([{ state: "active" }]);
  });

  it("serves every read without a token", async () => {
    for (const path of reads) {
      const res = await fetch(api + path);
      expect(res.status, path).toBe(200);
    }
    expect(await (await fetch(`${api}/ota`)).json()).toMatchObject({ state: "disabled" });
    expect(await (await fetch(`${api}/devices`)).json()).toMatchObject([{ id: "plc", protocol: "modbus-tcp", points: 3, status: { connected: true } }]);
    expect(await (await fetch(`${api}/outbox`)).json()).toMatchObject({ pending: expect.any(Number), drain: null });
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/^edge_alarms_active\{severity="major"\} 1$/m);
    expect(metrics).toMatch(/^edge_rules_evaluations_total [1-9]\d*$/m);
  });

  it("refuses oversized and malformed bodies with JSON errors", async () => {
    const token = (await import("node:fs")).readFileSync(join(dir, "api-token"), "utf8").trim();
    const big = await fetch(`${api}/rules`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ id: "x", when: "a".repeat(70_000) }) });
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: "body_too_large" } });
    const ack = await fetch(`${api}/alarms/1/ack`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ by: 5 }) });
    expect(ack.status).toBe(400);
    expect(await ack.json()).toMatchObject({ error: { code: "invalid_body", message: expect.stringMatching(/by: /) } });
  });
});
