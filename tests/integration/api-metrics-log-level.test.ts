import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Runtime } from "../../agent/runtime/runtime.js";
import { loadConfig } from "../../agent/config/load.js";
import { DEFAULT_THERMAL_FILE, readHost, writeHostMetrics } from "../../agent/api/host-metrics.js";
import { PromText } from "../../agent/api/prom-text.js";
import { Plant, plantDevices, apiOf } from "../helpers/plant.js";
import { capturingLogger, type LogLine } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";
import { metricValue, parsePrometheus } from "../helpers/prometheus.js";

describe("/metrics and /log-level on a running agent", () => {
  let dir: string;
  let plant: Plant;
  let runtime: Runtime;
  let api: string;
  let token: string;
  const log = capturingLogger("info");

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-metrics-"));
    plant = await Plant.start();
    plant.setLevel(80);
    const file = join(dir, "agent.yaml");
    writeFileSync(file, `version: 1\ndataDir: ${dir}\napi: { port: 0 }\n${plantDevices(plant.sim.port)}rules:\n  - { id: tank-high, when: tank.level > 60, actions: [{ type: alarm, severity: critical }] }\n`);
    runtime = new Runtime({ config: loadConfig(file), configFile: file, logger: log.logger, version: "7.0.0" });
    await runtime.start();
    await waitFor("the driver connected and the alarm raised", () => (runtime.status().drivers[0]?.connected && runtime.status().rules.alarmsActive.critical === 1 ? true : undefined));
    api = `http://127.0.0.1:${runtime.apiAddress()?.port}`;
    token = readFileSync(join(dir, "api-token"), "utf8").trim();
  });

  afterAll(async () => {
    await runtime?.stop();
    await plant?.sim.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves strict Prometheus text with process, host, agent, driver, outbox, rules, alarm and OTA families", async () => {
    const res = await fetch(`${api}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(await res.text());
    const m = (name: string, labels: Record<string, string> = {}) => metricValue(families, name, labels);

    expect(families.get("process_cpu_seconds_total")?.type).toBe("counter");
    expect(m("process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(m("process_cpu_seconds_total")).toBeLessThan(process.uptime() * 8); // this very process, not the host
    expect(m("process_resident_memory_bytes")).toBeGreaterThan(20 * 1024 * 1024);
    expect(m("process_resident_memory_bytes")).toBeLessThan(4 * 1024 ** 3);
    expect(m("nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(m("nodejs_heap_size_used_bytes")).toBeLessThanOrEqual(m("nodejs_heap_size_total_bytes") ?? 0);
    expect(Math.abs((m("process_start_time_seconds") ?? 0) - (Date.now() / 1000 - process.uptime()))).toBeLessThan(5);

    const available = m("edge_host_disk_available_bytes", { path: dir }) ?? -1;
    const size = m("edge_host_disk_size_bytes", { path: dir }) ?? -1;
    expect(available).toBeGreaterThan(0);
    expect(size).toBeGreaterThanOrEqual(available);
    const memAvail = m("edge_host_memory_available_bytes") ?? -1;
    expect(memAvail).toBeGreaterThan(0);
    expect(m("edge_host_memory_total_bytes")).toBeGreaterThanOrEqual(memAvail);
    for (const window of ["1m", "5m", "15m"]) expect(m("edge_host_load_average", { window })).toBeGreaterThanOrEqual(0);
    // The temperature is there exactly when the board has the sensor file.
    expect(families.has("edge_host_cpu_temperature_celsius")).toBe(existsSync(DEFAULT_THERMAL_FILE));

    expect(m("edge_agent_info", { version: "7.0.0", device: runtime.deviceId })).toBe(1);
    expect(m("edge_driver_connected", { device: "plc", protocol: "modbus-tcp" })).toBe(1);
    expect(m("edge_driver_requests_total", { device: "plc" })).toBeGreaterThan(0);
    expect(m("edge_outbox_pending")).toBeGreaterThan(0); // no broker: everything waits
    expect(m("edge_outbox_sent_total")).toBe(0);
    for (const reason of ["rows", "age", "bytes", "memory"]) expect(m("edge_outbox_dropped_total", { reason })).toBe(0);
    expect(m("edge_uplink_connected")).toBe(0);
    expect(m("edge_rules_loaded")).toBe(1);
    expect(m("edge_alarms_active", { severity: "critical" })).toBe(1);
    expect(m("edge_alarms_unacknowledged")).toBe(1);
    expect(m("edge_ota_state", { state: "disabled" })).toBe(1);
    expect(families.get("edge_ota_state")?.samples).toHaveLength(1);
  });

  it("reads the SoC temperature in degrees from a thermal zone file, and leaves it out without one", async () => {
    const thermal = join(dir, "temp");
    writeFileSync(thermal, "48312\n");
    const withSensor = await readHost({ dataDir: dir, thermalFile: thermal });
    expect(withSensor.cpuTemperatureC).toBe(48.312);
    const text = new PromText();
    writeHostMetrics(text, withSensor);
    expect(metricValue(parsePrometheus(text.toString()), "edge_host_cpu_temperature_celsius")).toBe(48.312);

    const without = await readHost({ dataDir: join(dir, "no-such-folder"), thermalFile: join(dir, "absent") });
    expect(without.cpuTemperatureC).toBeNull();
    expect(without.disk).toBeNull();
    const none = new PromText();
    writeHostMetrics(none, without);
    const families = parsePrometheus(none.toString());
    expect(families.has("edge_host_cpu_temperature_celsius")).toBe(false);
    expect(families.has("edge_host_disk_available_bytes")).toBe(false);
  });

  it("changes the log level at run time: the token is needed, the body is checked, and debug lines from components appear", async () => {
    const anon = apiOf(api, null);
    const authed = apiOf(api, token);
    const apiDebug = (from: number) => log.lines().slice(from).filter((l: LogLine) => l.level === 20 && l.msg === "API request" && l.component === "api");

    expect(await anon.get("/log-level")).toMatchObject({ status: 200, body: { level: "info" } });
    expect(await anon.put("/log-level", { level: "debug" })).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    expect(await apiOf(api, "wrong").put("/log-level", { level: "debug" })).toMatchObject({ status: 401 });
    expect(await authed.put("/log-level", { level: "loud" })).toMatchObject({ status: 400, body: { error: { code: "invalid_body" } } });
    expect(await authed.put("/log-level", { level: "debug", extra: 1 })).toMatchObject({ status: 400, body: { error: { code: "invalid_body" } } });
    const notJson = await fetch(`${api}/log-level`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" }, body: "debug" });
    expect(notJson.status).toBe(415);
    expect(await anon.get("/log-level")).toMatchObject({ body: { level: "info" } });

    // At info, a request leaves no debug line.
    let mark = log.lines().length;
    await anon.get("/health");
    expect(apiDebug(mark)).toHaveLength(0);

    const madeBefore = log.logger.child({ component: "probe" });
    mark = log.lines().length;
    expect(await authed.put("/log-level", { level: "debug" })).toMatchObject({ status: 200, body: { level: "debug", previous: "info" } });
    expect(log.lines().slice(mark)).toContainEqual(expect.objectContaining({ level: 30, msg: "log level changed", from: "info", to: "debug" }));
    await anon.get("/health");
    // The API's logger is a child made at start: the change on the root reached it.
    expect(apiDebug(mark)).toContainEqual(expect.objectContaining({ method: "GET", path: "/health", status: 200 }));
    expect(log.logger.level).toBe("debug");
    expect(madeBefore.isLevelEnabled("debug")).toBe(true);

    // And back up to warn: info and debug lines stop.
    expect(await authed.put("/log-level", { level: "warn" })).toMatchObject({ status: 200, body: { level: "warn", previous: "debug" } });
    mark = log.lines().length;
    await anon.get("/health");
    await authed.post("/rules/tank-high/disable");
    await authed.post("/rules/tank-high/enable");
    expect(log.lines().slice(mark).filter((l) => l.level < 40)).toEqual([]);
    expect(await authed.put("/log-level", { level: "info" })).toMatchObject({ status: 200 });
  });
});
