import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import type { Runtime } from "../../agent/runtime/runtime.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { Plant, plantDevices, startAgentFromFile } from "../helpers/plant.js";
import { waitFor } from "../helpers/ports.js";

interface Reply {
  topic: string;
  body: { ok: boolean; id?: string | number; error?: { code: string; message: string; problems?: string[] }; [k: string]: unknown };
  correlationData?: Buffer;
}

/** A fleet-side MQTT 5 client that collects the replies it sees. */
async function fleetClient(url: string, subscriptions: string[]): Promise<{ client: MqttClient; replies: Reply[] }> {
  const client = await mqtt.connectAsync(url, { clientId: `fleet-${Math.random().toString(16).slice(2)}`, protocolVersion: 5 });
  const replies: Reply[] = [];
  client.on("message", (topic, payload, packet) => {
    const reply: Reply = { topic, body: JSON.parse(payload.toString()) as Reply["body"] };
    if (packet.properties?.correlationData) reply.correlationData = packet.properties.correlationData;
    replies.push(reply);
  });
  for (const s of subscriptions) await client.subscribeAsync(s, { qos: 1 });
  return { client, replies };
}

describe("fleet commands over MQTT (real Mosquitto, real Modbus simulator)", () => {
  let broker: TestBroker;
  let dir: string;
  let plant: Plant;
  let runtime: Runtime | undefined;
  let fleet: { client: MqttClient; replies: Reply[] };

  const config = (commandsEnabled: boolean) => `version: 1
device: { id: cmd-gw }
dataDir: ${dir}
api: { port: 0 }
mqtt: { url: "${broker.url}", protocolVersion: 5, batch: { maxDelayMs: 20 } }
commands: { enabled: ${commandsEnabled} }
${plantDevices(plant.sim.port)}rules:
  - { id: tank-high, when: tank.level > 60, actions: [{ type: alarm, severity: major }] }
`;

  /** Publishes a command (with an id echoed in its reply) and waits for that reply. */
  const command = async (name: string, payload: object, id: string): Promise<Reply> => {
    await fleet.client.publishAsync(`edge/cmd-gw/cmd/${name}`, JSON.stringify({ ...payload, id }), { qos: 1 });
    return waitFor(`the reply to ${name} ${id}`, () => fleet.replies.find((r) => r.body.id === id));
  };

  beforeAll(async () => {
    broker = await startTestBroker();
    plant = await Plant.start();
    plant.setLevel(20);
    fleet = await fleetClient(broker.url, ["edge/cmd-gw/cmd/+/reply", "fleet/inbox/#"]);
  });

  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
    rmSync(dir, { recursive: true, force: true });
    fleet.replies.length = 0;
  });

  afterAll(async () => {
    await fleet?.client.endAsync();
    await plant?.sim.stop();
    await broker?.stop();
  });

  const startAgent = async (commandsEnabled: boolean) => {
    dir = mkdtempSync(join(tmpdir(), "edge-cmd-"));
    runtime = (await startAgentFromFile(dir, config(commandsEnabled))).runtime;
    await waitFor("the uplink connected", () => (runtime?.status().uplink?.connected ? true : undefined));
  };

  it("writes, refuses what it must, acknowledges alarms and reloads rules; each answered on the reply topic", async () => {
    await startAgent(true);
    // The subscription is sent on connect; the first ok reply proves it is in place.
    const ok = await waitFor("a write accepted", async () => {
      await fleet.client.publishAsync("edge/cmd-gw/cmd/write", JSON.stringify({ id: "w1", point: "pump.sp", value: 33 }), { qos: 1 });
      return waitFor("reply w1", () => fleet.replies.find((r) => r.body.id === "w1"), 500).catch(() => undefined);
    });
    expect(ok).toMatchObject({ topic: "edge/cmd-gw/cmd/write/reply", body: { ok: true, id: "w1", point: "pump.sp", value: 33, raw: 33 } });
    expect(plant.pump()).toBe(33);

    const readOnly = await command("write", { point: "plc.counter", value: 1 }, "w2");
    expect(readOnly.body).toMatchObject({ ok: false, error: { code: "point_read_only" } });
    const range = await command("write", { point: "pump.sp", value: 500 }, "w3");
    expect(range.body).toMatchObject({ ok: false, error: { code: "write_range" } });
    const shape = await command("write", { point: "pump.sp" }, "w4");
    expect(shape.body).toMatchObject({ ok: false, error: { code: "invalid_payload", message: expect.stringMatching(/value/) } });
    const unknown = await command("frobnicate", {}, "u1");
    expect(unknown.body).toMatchObject({ ok: false, error: { code: "unknown_command" } });
    expect(plant.pump()).toBe(33);

    fleet.replies.length = 0;
    await fleet.client.publishAsync("edge/cmd-gw/cmd/write", "{not json", { qos: 1 });
    const malformed = await waitFor("the malformed reply", () => fleet.replies.find((r) => r.topic === "edge/cmd-gw/cmd/write/reply"));
    expect(malformed.body).toMatchObject({ ok: false, error: { code: "invalid_json", message: expect.stringMatching(/not valid JSON/) } });

    plant.setLevel(80);
    const alarm = await waitFor("the alarm", () => runtime?.status().rules.alarmsActive.major === 1 || undefined);
    expect(alarm).toBe(true);
    const acked = await command("ack", { alarmId: 1, by: "fleet-ops" }, "a1");
    expect(acked.body).toMatchObject({ ok: true, alarm: { id: 1, state: "acknowledged", ackBy: "fleet-ops" } });
    const again = await command("ack", { alarmId: 1 }, "a2");
    expect(again.body).toMatchObject({ ok: false, error: { code: "alarm_state" } });

    const reload = await command("reload-rules", {}, "r1");
    expect(reload.body).toMatchObject({ ok: true, rules: 1, virtualPoints: 0 });
    expect(runtime?.status().commands).toMatchObject({ ok: 3 });
  });

  it("answers on the MQTT 5 response topic with the request's correlation data", async () => {
    await startAgent(true);
    const correlationData = Buffer.from("corr-42");
    const reply = await waitFor("the response-topic reply", async () => {
      await fleet.client.publishAsync("edge/cmd-gw/cmd/write", JSON.stringify({ point: "pump.sp", value: 12 }), { qos: 1, properties: { responseTopic: "fleet/inbox/gw", correlationData } });
      return waitFor("reply", () => fleet.replies.find((r) => r.topic === "fleet/inbox/gw"), 500).catch(() => undefined);
    });
    expect(reply.body).toMatchObject({ ok: true, point: "pump.sp", value: 12 });
    expect(reply.correlationData?.toString()).toBe("corr-42");
    // Only the response topic was used.
    expect(fleet.replies.filter((r) => r.topic === "edge/cmd-gw/cmd/write/reply")).toEqual([]);
    expect(plant.pump()).toBe(12);
  });

  it("subscribes to nothing when commands are disabled", async () => {
    plant.setLevel(20);
    await startAgent(false);
    expect(runtime?.status().commands).toBeNull();
    const before = plant.pump();
    const telemetry = await mqtt.connectAsync(broker.url, { clientId: "cmd-observer" });
    let batches = 0;
    telemetry.on("message", () => batches++);
    await telemetry.subscribeAsync("edge/cmd-gw/telemetry", { qos: 1 });
    await fleet.client.publishAsync("edge/cmd-gw/cmd/write", JSON.stringify({ id: "off", point: "pump.sp", value: before + 1 }), { qos: 1 });
    // Two telemetry batches later the agent has been connected and working well past the command.
    plant.setLevel(30);
    await waitFor("telemetry after the command", () => (batches >= 1 ? true : undefined));
    plant.setLevel(40);
    await waitFor("more telemetry", () => (batches >= 2 ? true : undefined));
    await telemetry.endAsync();
    expect(fleet.replies).toEqual([]);
    expect(plant.pump()).toBe(before);
  });
});
