import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import { SparkplugUplink, type SparkplugUplinkOptions } from "../../edge/uplink/sparkplug/sparkplug-uplink.js";
import type { SparkplugDeviceSpec } from "../../edge/uplink/sparkplug/catalog.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { testLogger } from "../helpers/logger.js";
import { waitFor } from "../helpers/ports.js";
import { protocDecode, protocEncode, type DecodedPayload } from "../helpers/protoc-sparkplug.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

const GROUP = "Plant1";
const NODE = "gw-7";
const DEVICES: SparkplugDeviceSpec[] = [
  { deviceId: "plc-1", metrics: Array.from({ length: 5 }, (_, i) => ({ point: `p${i}`, name: `Line/Speed ${i}`, datatype: "number" as const, unit: "rpm" })) },
  { deviceId: "meter-2", metrics: [{ point: "kwh", name: "Energy", datatype: "int64" as const }] },
];

interface Received {
  topic: string;
  type: string;
  device: string | undefined;
  payload: Buffer;
}

describe("Sparkplug B uplink against a real broker, decoded with protoc", () => {
  let broker: TestBroker;
  let proxy: TcpProxy | undefined;
  let dir: string;
  let outbox: SqliteOutbox;
  let uplink: SparkplugUplink | undefined;
  let observer: mqtt.MqttClient;
  const received: Received[] = [];

  const makeUplink = (url: string, extra: Partial<SparkplugUplinkOptions> = {}) =>
    new SparkplugUplink({
      url,
      clientId: "edge-agent-sparkplug-test",
      protocolVersion: 4,
      keepaliveS: 10,
      groupId: GROUP,
      edgeNodeId: NODE,
      devices: DEVICES,
      dataDir: dir,
      batchMaxSamples: 25,
      batchMaxDelayMs: 20,
      inflightBatches: 4,
      reconnectPeriodMs: 1000,
      outbox,
      logger: testLogger(),
      clock: Date.now,
      ...extra,
    });

  /** Stores one sample and tells the uplink, as the pipeline does after each commit. */
  const store = (point: string, value: number | string, ts = Date.now()) => {
    outbox.append("telemetry", [{ ts, json: JSON.stringify({ point, ts, value, quality: "good" }) }]);
    uplink?.kick();
  };
  const ofType = (type: string) => received.filter((r) => r.type === type);
  const decodeAll = async (list: Received[]): Promise<DecodedPayload[]> => {
    const out: DecodedPayload[] = [];
    for (let i = 0; i < list.length; i += 16) out.push(...(await Promise.all(list.slice(i, i + 16).map((r) => protocDecode(r.payload)))));
    return out;
  };

  beforeEach(async () => {
    received.length = 0;
    broker = await startTestBroker();
    dir = mkdtempSync(join(tmpdir(), "edge-sparkplug-"));
    outbox = new SqliteOutbox({ path: join(dir, "edge.db"), maxRows: 1_000_000, maxAgeMs: 0, synchronous: "normal" });
    observer = await mqtt.connectAsync(broker.url, { clientId: "independent-sparkplug-host", reconnectPeriod: 100 });
    observer.on("message", (topic, payload) => {
      const [, , type, , device] = topic.split("/");
      received.push({ topic, type: type ?? "", device, payload: Buffer.from(payload) });
    });
    await observer.subscribeAsync(`spBv1.0/${GROUP}/#`, { qos: 1 });
  });

  afterEach(async () => {
    await uplink?.stop(200);
    uplink = undefined;
    await proxy?.close();
    proxy = undefined;
    outbox.close();
    await observer.endAsync(true);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("births first (NBIRTH seq 0 with bdSeq, DBIRTH names and aliases), then DDATA by alias with seqs mod 256; every outbox seq arrives and its row is deleted after PUBACK", async () => {
    uplink = makeUplink(broker.url, { batchMaxSamples: 1 });
    uplink.start();
    await waitFor("uplink connected", () => (uplink?.status().connected ? true : undefined));
    const total = 270;
    for (let i = 0; i < total; i++) store(`p${i % 5}`, i);
    await waitFor("outbox drained", () => (outbox.stats().pending === 0 ? true : undefined), 20_000);
    await waitFor("every DDATA at the observer", () => (ofType("DDATA").length >= total ? true : undefined));
    expect(outbox.peek(0, 10)).toEqual([]);
    expect(outbox.stats().sent).toBe(total);

    expect(received.slice(0, 3).map((r) => [r.type, r.device])).toEqual([["NBIRTH", undefined], ["DBIRTH", "plc-1"], ["DBIRTH", "meter-2"]]);
    const [nbirth, dbirth1, dbirth2] = await decodeAll(received.slice(0, 3));
    expect(nbirth?.seq).toBe(0);
    expect(nbirth?.metrics.find((m) => m.name === "bdSeq")?.value).toBe(0n);
    expect(nbirth?.metrics.find((m) => m.name === "Node Control/Rebirth")?.value).toBe(false);
    expect(dbirth1?.seq).toBe(1);
    expect(dbirth2?.seq).toBe(2);
    expect(dbirth1?.metrics.map((m) => m.name)).toEqual(DEVICES[0]?.metrics.map((m) => m.name));
    expect(dbirth2?.metrics[0]).toMatchObject({ name: "Energy", datatype: 4 });
    const aliasByName = new Map(dbirth1?.metrics.map((m) => [m.name, m.alias]));
    expect(new Set(aliasByName.values()).size).toBe(5);
    for (const m of dbirth1?.metrics ?? []) expect(m).toMatchObject({ datatype: 10, properties: { engUnit: { value: "rpm" } } });

    const ddata = await decodeAll(ofType("DDATA"));
    expect(ofType("DDATA").every((r) => r.device === "plc-1")).toBe(true);
    expect(ddata.map((p) => p.seq)).toEqual(Array.from({ length: total }, (_, i) => (i + 3) % 256));
    const metrics = ddata.flatMap((p) => p.metrics);
    expect(metrics.every((m) => m.name === undefined && m.datatype === undefined && !m.isHistorical)).toBe(true);
    expect(metrics.map((m) => m.properties.seq?.value)).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
    expect(metrics.map((m) => m.alias)).toEqual(Array.from({ length: total }, (_, i) => aliasByName.get(`Line/Speed ${i % 5}`)));
    expect(metrics.map((m) => m.value)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(JSON.parse(ddata[0]?.body ?? "")).toEqual({ epoch: outbox.epoch, seqs: { first: 1, last: 1 } });
    expect(uplink.status()).toMatchObject({ connected: true, bdSeq: 0, birthsSent: 3, messagesSent: total, batchesSent: total, lastError: null });
  });

  it("the broker sends NDEATH with the session's bdSeq when the connection dies; the next session births with bdSeq + 1, also after a restart", async () => {
    proxy = await startTcpProxy(broker.port);
    uplink = makeUplink(`mqtt://127.0.0.1:${proxy.port}`);
    uplink.start();
    await waitFor("first NBIRTH", () => (ofType("NBIRTH").length >= 1 ? true : undefined));
    const first = (await protocDecode(ofType("NBIRTH")[0]?.payload ?? Buffer.alloc(0))).metrics.find((m) => m.name === "bdSeq")?.value;
    expect(first).toBe(0n);

    proxy.cutAll();
    await waitFor("NDEATH from the will", () => (ofType("NDEATH").length >= 1 ? true : undefined));
    const death = await protocDecode(ofType("NDEATH")[0]?.payload ?? Buffer.alloc(0));
    expect(death.seq).toBeUndefined();
    expect(death.metrics.find((m) => m.name === "bdSeq")?.value).toBe(first);

    await waitFor("second NBIRTH after reconnecting", () => (ofType("NBIRTH").length >= 2 ? true : undefined));
    const second = await protocDecode(ofType("NBIRTH")[1]?.payload ?? Buffer.alloc(0));
    expect(second.seq).toBe(0);
    expect(second.metrics.find((m) => m.name === "bdSeq")?.value).toBe(1n);

    // A clean stop publishes NDEATH itself; a new instance (a restart) continues from the persisted bdSeq.
    await uplink.stop(200);
    await waitFor("NDEATH on clean stop", () => (ofType("NDEATH").length >= 2 ? true : undefined));
    expect((await protocDecode(ofType("NDEATH")[1]?.payload ?? Buffer.alloc(0))).metrics[0]?.value).toBe(1n);
    uplink = makeUplink(broker.url);
    uplink.start();
    await waitFor("NBIRTH after restart", () => (ofType("NBIRTH").length >= 3 ? true : undefined));
    const third = await protocDecode(ofType("NBIRTH")[2]?.payload ?? Buffer.alloc(0));
    expect(third.metrics.find((m) => m.name === "bdSeq")?.value).toBe(2n);
  });

  it("answers NCMD Node Control/Rebirth with NBIRTH (seq 0, same bdSeq) and DBIRTHs, after ignoring a malformed NCMD", async () => {
    uplink = makeUplink(broker.url);
    uplink.start();
    await waitFor("births", () => (ofType("DBIRTH").length >= 2 ? true : undefined));
    store("p1", 12.5);
    await waitFor("a DDATA", () => (ofType("DDATA").length >= 1 ? true : undefined));

    const ncmd = `spBv1.0/${GROUP}/NCMD/${NODE}`;
    await observer.publishAsync(ncmd, Buffer.from([0x12, 0xff, 0xff, 0x01]), { qos: 1 });
    const rebirth = await protocEncode(`timestamp: ${Date.now()} metrics { name: "Node Control/Rebirth" datatype: 11 boolean_value: true }`);
    await observer.publishAsync(ncmd, rebirth, { qos: 1 });
    await waitFor("rebirth", () => (ofType("NBIRTH").length >= 2 && ofType("DBIRTH").length >= 4 ? true : undefined));
    expect(uplink.status()).toMatchObject({ connected: true, rebirths: 1 });
    const births = received.filter((r) => r.type !== "NCMD");
    const at = births.findIndex((r, i) => r.type === "NBIRTH" && i > 0);
    expect(births.slice(at, at + 3).map((r) => r.type)).toEqual(["NBIRTH", "DBIRTH", "DBIRTH"]);
    const [nb, db1] = await decodeAll(births.slice(at, at + 2));
    expect(nb?.seq).toBe(0);
    expect(nb?.metrics.find((m) => m.name === "bdSeq")?.value).toBe(0n);
    expect(db1?.seq).toBe(1);
    // The rebirth carries the last value sent.
    expect(db1?.metrics.find((m) => m.name === "Line/Speed 1")?.value).toBe(12.5);

    store("p2", 3);
    await waitFor("DDATA after the rebirth", () => (ofType("DDATA").length >= 2 ? true : undefined));
    expect((await protocDecode(ofType("DDATA")[1]?.payload ?? Buffer.alloc(0))).seq).toBe(3);
  });

  it("sends what was stored while the broker was down as is_historical, oldest first, and live data without it", async () => {
    uplink = makeUplink(broker.url);
    uplink.start();
    await waitFor("uplink connected", () => (uplink?.status().connected ? true : undefined));
    store("p0", 1);
    await waitFor("live DDATA", () => (ofType("DDATA").length >= 1 ? true : undefined));

    await broker.stop();
    await waitFor("uplink sees the outage", () => (!uplink?.status().connected ? true : undefined));
    for (let i = 0; i < 40; i++) store(`p${i % 5}`, 100 + i);
    store("kwh", "9223372036854775806");
    expect(outbox.stats().pending).toBe(41);

    await broker.start();
    await waitFor("observer back", () => (observer.connected ? true : undefined));
    await observer.subscribeAsync(`spBv1.0/${GROUP}/#`, { qos: 1 });
    await waitFor("backlog drained", () => (outbox.stats().pending === 0 ? true : undefined), 20_000);
    await waitFor("backlog at the observer", () => (ofType("DDATA").length >= 3 ? true : undefined));
    store("p4", 7);
    await waitFor("live DDATA after the outage", () => (outbox.stats().sent === 43 ? true : undefined));

    const decoded = await decodeAll(ofType("DDATA"));
    const metrics = decoded.flatMap((p) => p.metrics);
    const seqs = metrics.map((m) => Number(m.properties.seq?.value));
    // Oldest first (a duplicate after a lost PUBACK may only repeat an earlier seq).
    const firstSeen = seqs.filter((s, i) => seqs.indexOf(s) === i);
    expect(firstSeen).toEqual([...firstSeen].sort((a, b) => a - b));
    const bySeq = new Map(metrics.map((m) => [Number(m.properties.seq?.value), m]));
    expect([...bySeq.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: 43 }, (_, i) => i + 1));
    expect(bySeq.get(1)?.isHistorical).toBe(false);
    for (let s = 2; s <= 42; s++) expect(bySeq.get(s)?.isHistorical).toBe(true);
    expect(bySeq.get(42)?.value).toBe(9223372036854775806n);
    expect(bySeq.get(43)?.isHistorical).toBe(false);

    const nbirths = await decodeAll(ofType("NBIRTH"));
    expect(nbirths.map((p) => p.metrics.find((m) => m.name === "bdSeq")?.value)).toEqual([0n, 1n]);
  });
});
