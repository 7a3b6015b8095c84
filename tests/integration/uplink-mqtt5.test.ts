import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import mqtt from "mqtt";
import { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import { MqttUplink, type MqttUplinkOptions } from "../../edge/uplink/mqtt-uplink.js";
import { telemetryBatchSchema } from "../../edge/uplink/batch-schema.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { waitFor } from "../helpers/ports.js";
import { uplinkOptions } from "../helpers/uplink.js";

describe("MQTT 5 and persistent sessions against Mosquitto", () => {
  let broker: TestBroker;
  let dir: string;
  let outbox: SqliteOutbox;
  const uplinks: MqttUplink[] = [];

  beforeEach(async () => {
    broker = await startTestBroker();
    dir = mkdtempSync(join(tmpdir(), "edge-mqtt5-"));
    outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 100_000, maxAgeMs: 0, synchronous: "normal" });
  });
  afterEach(async () => {
    for (const u of uplinks.splice(0)) await u.stop(200);
    outbox.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function uplink(extra: Partial<MqttUplinkOptions>): MqttUplink {
    const u = new MqttUplink(uplinkOptions(broker.url, "v5-gw", outbox, { protocolVersion: 5, batchMaxSamples: 100, inflightBatches: 4, ...extra }));
    uplinks.push(u);
    u.start();
    return u;
  }

  it("publishes over MQTT 5; a compressed batch says so in its content type", async () => {
    const observer = await mqtt.connectAsync(broker.url, { clientId: "v5-observer", protocolVersion: 5 });
    const got: Array<{ contentType: string | undefined; seqs: number[] }> = [];
    observer.on("message", (_t, payload, packet) => {
      const batch = telemetryBatchSchema.parse(JSON.parse(gunzipSync(payload).toString()));
      got.push({ contentType: packet.properties?.contentType, seqs: batch.samples.map((s) => s.seq) });
    });
    await observer.subscribeAsync("edge/v5-gw/telemetry", { qos: 1 });
    const u = uplink({ compress: true });
    await waitFor("connected over MQTT 5", () => (u.status().connected ? true : undefined));
    outbox.append("telemetry", Array.from({ length: 250 }, (_, i) => ({ ts: 1, json: `{"point":"p","ts":1,"value":${i},"quality":"good"}` })));
    u.kick();
    await waitFor("250 samples", () => (got.flatMap((g) => g.seqs).length >= 250 ? true : undefined));
    expect(got.every((g) => g.contentType === "application/json+gzip")).toBe(true);
    expect(got.flatMap((g) => g.seqs)).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    await waitFor("acknowledged rows deleted", () => (outbox.stats().pending === 0 ? true : undefined));
    await observer.endAsync(true);
  });

  it("with cleanSession false the broker keeps the session across a reconnect (MQTT 5 session expiry)", async () => {
    const first = uplink({ cleanSession: false, sessionExpiryS: 600 });
    await waitFor("first connect", () => (first.status().connected ? true : undefined));
    expect(first.status().sessionPresent).toBe(false);
    await first.stop(100);
    uplinks.splice(uplinks.indexOf(first), 1);
    const second = uplink({ cleanSession: false, sessionExpiryS: 600 });
    await waitFor("second connect", () => (second.status().connected ? true : undefined));
    expect(second.status().sessionPresent).toBe(true);
    // A clean-session client with the same id starts from nothing.
    await second.stop(100);
    uplinks.splice(uplinks.indexOf(second), 1);
    const clean = uplink({ cleanSession: true });
    await waitFor("clean connect", () => (clean.status().connected ? true : undefined));
    expect(clean.status().sessionPresent).toBe(false);
  });
});
