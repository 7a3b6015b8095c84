import mqtt, { type MqttClient } from "mqtt";
import type { Clock } from "../../model.js";
import type { Logger } from "../../logger.js";
import type { Outbox } from "../../store/outbox.js";
import { errorMessage } from "../../errors.js";
import { clientOptions, type MqttConnectionOptions } from "../connection.js";
import type { UplinkStatus } from "../mqtt-uplink.js";
import { ackRows, settle } from "../shared.js";
import { DrainPlanner, drainOptions, type PlannedBatch } from "../drain.js";
import { BdSeqStore } from "./bdseq-store.js";
import { deviceBirth, nodeBirth, nodeDeath } from "./births.js";
import { MetricCatalog, REBIRTH, type SparkplugDeviceSpec } from "./catalog.js";
import { dataMessages, dataPayload } from "./data.js";
import { decodeCommand, encodePayload, type SpPayload } from "./payload.js";
import { SeqCounter } from "./sequence.js";
import { sparkplugTopic, type SparkplugMessageType } from "./topics.js";

export interface SparkplugUplinkOptions extends MqttConnectionOptions {
  groupId: string;
  edgeNodeId: string;
  /** The Sparkplug devices and their metrics, declared in DBIRTH; samples of other points are not sent. */
  devices: readonly SparkplugDeviceSpec[];
  /** Folder for `sparkplug-bdseq.json` (the agent's data folder), so bdSeq keeps counting across restarts. */
  dataDir: string;
  batchMaxSamples: number;
  batchMaxDelayMs: number;
  /** Batches published and not yet acknowledged at once. */
  inflightBatches: number;
  /** Most backlog samples per second after an outage (0 = as fast as the broker takes them). */
  backlogMaxPerS?: number | undefined;
  /** Wait between connection attempts. Default 2000 ms. */
  reconnectPeriodMs?: number;
  outbox: Outbox;
  logger: Logger;
  clock: Clock;
}

export interface SparkplugUplinkStatus extends UplinkStatus {
  groupId: string;
  edgeNodeId: string;
  /** The bdSeq of the current (or next) session; null before the first connect. */
  bdSeq: number | null;
  /** The Sparkplug seq of the last message published; null before the first NBIRTH. */
  seq: number | null;
  /** NBIRTH and DBIRTH messages published. */
  birthsSent: number;
  /** Rebirths done at a host's request (NCMD Node Control/Rebirth). */
  rebirths: number;
  /** NDATA and DDATA messages acknowledged by the broker. */
  messagesSent: number;
  /** Samples of points that no DBIRTH declares: dropped (a config error, logged). */
  unmappedSamples: number;
  /** Stored records that could not be read: dropped (logged). */
  malformedRecords: number;
}

/**
 * Publishes the outbox as a Sparkplug B 3.0 edge node. Each connection is one Sparkplug session: a
 * fresh MQTT client whose will is NDEATH with a new bdSeq, then NBIRTH (seq 0) and one DBIRTH per
 * device, then NDATA/DDATA. We reconnect with a new client instead of letting mqtt.js reconnect,
 * because mqtt.js would reuse the old will (old bdSeq) and re-send unacknowledged messages carrying
 * the old session's seqs; here unacknowledged rows simply stay in the outbox and are read again
 * after the new births. Rows are deleted only after every message carrying them got its PUBACK.
 */
export class SparkplugUplink {
  private readonly catalog: MetricCatalog;
  private readonly planner: DrainPlanner;
  private readonly bdSeqStore: BdSeqStore;
  private readonly seq = new SeqCounter();
  private client: MqttClient | null = null;
  /** Incremented per connection: callbacks of an older client are ignored. */
  private session = 0;
  private bdSeq: number | null = null;
  /** The broker accepted a CONNECT with `bdSeq`, so the next connection needs a new one. */
  private bdSeqUsed = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopping = false;
  private connectedSince: number | null = null;
  private lastError: string | null = null;
  private lastSeq: number | null = null;
  private warnedDown = false;
  private readonly counters = { batchesSent: 0, birthsSent: 0, rebirths: 0, messagesSent: 0, unmappedSamples: 0, malformedRecords: 0 };

  constructor(private readonly options: SparkplugUplinkOptions) {
    this.catalog = new MetricCatalog(options.devices);
    this.bdSeqStore = new BdSeqStore(options.dataDir);
    this.planner = new DrainPlanner(
      drainOptions(
        options,
        () => this.client !== null && this.connectedSince !== null && !this.stopping,
        (batch) => this.client && this.publishBatch(this.client, batch),
      ),
    );
  }

  topic(type: SparkplugMessageType, deviceId?: string): string {
    return sparkplugTopic(this.options.groupId, type, this.options.edgeNodeId, deviceId);
  }

  /** Starts connecting and returns at once: the agent stores data whether or not the broker is up. */
  start(): void {
    this.stopping = false;
    this.connect();
  }

  /** Tells the uplink new records were stored: send now if a full batch waits, else within maxDelay. */
  kick(): void {
    this.planner.drive(false);
  }

  status(): SparkplugUplinkStatus {
    const { batchesSent, ...rest } = this.counters;
    return {
      url: this.options.url,
      connected: this.connectedSince !== null,
      lastError: this.lastError,
      connectedSince: this.connectedSince,
      batchesSent,
      inflightBatches: this.planner.inflightCount,
      drain: this.planner.progress(),
      groupId: this.options.groupId,
      edgeNodeId: this.options.edgeNodeId,
      bdSeq: this.bdSeq,
      seq: this.lastSeq,
      ...rest,
    };
  }

  /**
   * Stops sending, gives the batches in flight a moment to be acknowledged, publishes NDEATH itself
   * (a clean DISCONNECT does not fire the will, and the spec asks for NDEATH first) and disconnects.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    this.planner.stop();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    if (!client) return;
    await settle(() => !client.connected || this.planner.inflightCount === 0, graceMs, this.options.clock);
    if (client.connected && this.bdSeq !== null) {
      const death = Buffer.from(encodePayload(nodeDeath(this.bdSeq, this.options.clock())));
      await Promise.race([
        client.publishAsync(this.topic("NDEATH"), death, { qos: 1 }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    this.session++;
    this.connectedSince = null;
    await client.endAsync(true).catch(() => undefined);
    this.client = null;
  }

  private connect(): void {
    if (this.stopping) return;
    const o = this.options;
    const bdSeq = this.nextBdSeq();
    const session = ++this.session;
    const will = { topic: this.topic("NDEATH"), payload: Buffer.from(encodePayload(nodeDeath(bdSeq, o.clock()))), qos: 1, retain: false } as const;
    const client = mqtt.connect(o.url, clientOptions(o, will, 0));
    this.client = client;
    client.on("connect", () => {
      if (session !== this.session) return;
      this.bdSeqUsed = true;
      this.connectedSince = o.clock();
      this.warnedDown = false;
      o.logger.info({ url: o.url, groupId: o.groupId, edgeNodeId: o.edgeNodeId, bdSeq }, "sparkplug uplink connected");
      // Subscribed before NBIRTH: the broker handles the SUBSCRIBE first, so no rebirth request is missed.
      client.subscribe(this.topic("NCMD"), { qos: 1 }, (err) => {
        if (err && session === this.session) this.lastError = `subscribing to NCMD: ${errorMessage(err)}`;
      });
      // A new session: whatever was in flight on the old one is read again from the outbox.
      this.planner.onConnect(true);
      this.publishBirths(client);
      this.planner.drive(true);
    });
    client.on("message", (topic, payload) => {
      if (session === this.session) this.onCommand(client, topic, payload);
    });
    client.on("close", () => {
      if (session !== this.session) return;
      if (this.connectedSince !== null || !this.warnedDown) {
        if (!this.stopping) o.logger.warn({ url: o.url, reason: this.lastError }, "sparkplug uplink disconnected; data is kept in the outbox");
        this.warnedDown = true;
      }
      this.connectedSince = null;
      this.session++;
      client.end(true);
      if (this.client === client) this.client = null;
      if (!this.stopping) this.reconnectTimer = setTimeout(() => this.connect(), o.reconnectPeriodMs ?? 2000);
    });
    client.on("error", (err) => {
      this.lastError = errorMessage(err);
      o.logger.debug({ err: this.lastError }, "sparkplug uplink error");
    });
  }

  /**
   * A new bdSeq once the previous one reached the broker; a failed attempt keeps its value (no host
   * ever saw it), so a long outage does not spin the counter or write the file every retry.
   */
  private nextBdSeq(): number {
    if (this.bdSeq !== null && !this.bdSeqUsed) return this.bdSeq;
    try {
      this.bdSeq = this.bdSeqStore.allocate();
    } catch (err) {
      // Keep running on a read-only or full disk: only the count across a restart is at risk.
      this.lastError = errorMessage(err);
      this.options.logger.error({ err: this.lastError }, "could not persist the Sparkplug bdSeq");
      this.bdSeq = this.bdSeq === null ? 0 : (this.bdSeq + 1) & 0xff;
    }
    this.bdSeqUsed = false;
    return this.bdSeq;
  }

  /** NBIRTH (seq 0) then one DBIRTH per device, QoS 0 and not retained as the spec requires. */
  private publishBirths(client: MqttClient): void {
    const now = this.options.clock();
    this.seq.reset();
    this.send(client, "NBIRTH", undefined, (seq) => ({ ...nodeBirth(this.catalog, this.bdSeq ?? 0, now), seq }));
    for (const device of this.catalog.devices) {
      this.send(client, "DBIRTH", device.deviceId, (seq) => deviceBirth(this.catalog, device.metrics, now, seq));
    }
    this.counters.birthsSent += 1 + this.catalog.devices.length;
  }

  private send(client: MqttClient, type: SparkplugMessageType, deviceId: string | undefined, build: (seq: number) => SpPayload): void {
    const seq = this.seq.next();
    this.lastSeq = seq;
    client.publish(this.topic(type, deviceId), Buffer.from(encodePayload(build(seq))), { qos: 0, retain: false });
  }

  /** Handles NCMD: `Node Control/Rebirth` = true sends the births again. Anything malformed is logged and ignored. */
  private onCommand(client: MqttClient, topic: string, payload: Buffer): void {
    if (topic !== this.topic("NCMD")) return;
    let metrics;
    try {
      metrics = decodeCommand(payload);
    } catch (err) {
      this.options.logger.warn({ topic, err: errorMessage(err) }, "ignoring a malformed NCMD");
      return;
    }
    const rebirth = metrics.some((m) => (m.name === REBIRTH || m.alias === this.catalog.rebirthAlias) && m.booleanValue === true);
    if (!rebirth) {
      this.options.logger.info({ topic, metrics: metrics.map((m) => m.name ?? m.alias) }, "ignoring an NCMD this edge node does not handle");
      return;
    }
    if (this.connectedSince === null) return;
    this.options.logger.info({ topic }, "rebirth requested by a host");
    this.counters.rebirths++;
    this.publishBirths(client);
  }

  private publishBatch(client: MqttClient, batch: PlannedBatch): void {
    const { outbox, logger, clock } = this.options;
    const session = this.session;
    const firstSeqs = batch.rows.map((r) => r.firstSeq);
    const { messages, unmapped, malformed } = dataMessages(batch.rows, this.catalog, this.connectedSince ?? clock());
    if (unmapped > 0 || malformed > 0) {
      this.counters.unmappedSamples += unmapped;
      this.counters.malformedRecords += malformed;
      logger.warn({ unmapped, malformed, firstSeq: firstSeqs[0] }, "dropping records no Sparkplug metric can carry");
    }
    if (messages.length === 0) {
      ackRows(outbox, firstSeqs, logger);
      this.planner.acked(batch);
      return;
    }
    let remaining = messages.length;
    let failed = false;
    for (const msg of messages) {
      const seq = this.seq.next();
      this.lastSeq = seq;
      const topic = msg.deviceId === null ? this.topic("NDATA") : this.topic("DDATA", msg.deviceId);
      const payload = Buffer.from(encodePayload(dataPayload(msg, outbox.epoch, seq, clock())));
      // Sparkplug allows QoS 0 for NDATA/DDATA; we use QoS 1 because the outbox is the source of truth:
      // a row is deleted only after the broker's PUBACK, which gives at-least-once delivery end to end.
      client.publish(topic, payload, { qos: 1 }, (err) => {
        // An older session's batch: the new session forgot it and reads its rows again after the births.
        if (session !== this.session) return;
        if (err) {
          failed = true;
          this.lastError = errorMessage(err);
        } else this.counters.messagesSent++;
        if (--remaining > 0) return;
        if (failed) this.planner.failed(batch);
        else {
          ackRows(outbox, firstSeqs, logger);
          this.counters.batchesSent++;
          this.planner.acked(batch);
        }
        this.planner.drive(false);
      });
    }
  }
}
