import mqtt, { type MqttClient } from "mqtt";
import type { Clock } from "../model.js";
import type { Logger } from "../logger.js";
import type { Outbox, OutboxBatch, RecordKind } from "../store/outbox.js";
import { errorMessage } from "../errors.js";
import { encodeTelemetryBatch } from "./batch.js";
import { topicsFor, type Topics } from "./topics.js";

export interface MqttUplinkOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  /** PEM contents (not paths): the agent reads the files, so the data plane never touches the disk for them. */
  tls?: { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined; rejectUnauthorized: boolean } | undefined;
  protocolVersion: 4 | 5;
  keepaliveS: number;
  deviceId: string;
  /** Topic root with {deviceId} already expanded, e.g. `edge/gw-1`. */
  root: string;
  batchMaxSamples: number;
  batchMaxDelayMs: number;
  /** Batches published and not yet acknowledged at once; more hides broker round trips during a drain. */
  inflightBatches: number;
  outbox: Outbox;
  logger: Logger;
  clock: Clock;
}

export interface UplinkStatus {
  url: string;
  connected: boolean;
  lastError: string | null;
  connectedSince: number | null;
  batchesSent: number;
  inflightBatches: number;
}

interface Inflight {
  first: number;
  /** The outbox rows this message carries, by firstSeq. */
  rows: number[];
}

/**
 * Publishes the outbox over MQTT: batches with QoS 1, rows deleted only when the broker's PUBACK comes
 * back, `state` = online (retained) on connect and offline through the last will. Reads the outbox by a
 * cursor so batches already in flight are not read again; mqtt.js re-sends in-flight ones on reconnect.
 */
export class MqttUplink {
  readonly topics: Topics;
  private client: MqttClient | null = null;
  private cursor = 0;
  private readonly inflight = new Map<number, Inflight>();
  private timer: NodeJS.Timeout | null = null;
  private stopping = false;
  private lastError: string | null = null;
  private connectedSince: number | null = null;
  private batchesSent = 0;
  private warnedDown = false;

  constructor(private readonly options: MqttUplinkOptions) {
    this.topics = topicsFor(options.root);
  }

  /** Starts connecting and returns at once: the agent stores data whether or not the broker is up. */
  start(): void {
    const o = this.options;
    const client = mqtt.connect(o.url, {
      clientId: o.clientId,
      username: o.username,
      password: o.password,
      protocolVersion: o.protocolVersion,
      keepalive: o.keepaliveS,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
      clean: true,
      will: { topic: this.topics.state, payload: Buffer.from("offline"), qos: 1, retain: true },
      ...(o.tls ? { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, rejectUnauthorized: o.tls.rejectUnauthorized } : {}),
    });
    this.client = client;
    client.on("connect", () => {
      this.connectedSince = o.clock();
      this.warnedDown = false;
      o.logger.info({ url: o.url, root: o.root }, "uplink connected");
      client.publish(this.topics.state, "online", { qos: 1, retain: true });
      this.pump(true);
    });
    client.on("close", () => {
      if (this.connectedSince !== null || !this.warnedDown) {
        if (!this.stopping) o.logger.warn({ url: o.url, reason: this.lastError }, "uplink disconnected; data is kept in the outbox");
        this.warnedDown = true;
      }
      this.connectedSince = null;
    });
    client.on("error", (err) => {
      this.lastError = errorMessage(err);
      o.logger.debug({ err: this.lastError }, "uplink error");
    });
  }

  /** Tells the uplink new records were stored: send now if a full batch waits, else within maxDelay. */
  kick(): void {
    // An estimate: seqs dropped by a bound still count here, which is why pump() never calls kick().
    const unsent = this.options.outbox.stats().lastSeq - this.cursor;
    if (unsent >= this.options.batchMaxSamples) this.pump(false);
    else this.armTimer();
  }

  /** Sends whatever is stored, full batch or not, within maxDelay. */
  private armTimer(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pump(true);
    }, this.options.batchMaxDelayMs);
  }

  status(): UplinkStatus {
    return {
      url: this.options.url,
      connected: this.client?.connected ?? false,
      lastError: this.lastError,
      connectedSince: this.connectedSince,
      batchesSent: this.batchesSent,
      inflightBatches: this.inflight.size,
    };
  }

  /**
   * Stops sending, gives the batches in flight a moment to be acknowledged (fewer duplicates after a
   * restart), marks the device offline (a clean DISCONNECT does not fire the will) and disconnects.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const client = this.client;
    if (!client) return;
    const deadline = this.options.clock() + graceMs;
    while (client.connected && this.inflight.size > 0 && this.options.clock() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (client.connected) {
      await Promise.race([
        client.publishAsync(this.topics.state, "offline", { qos: 1, retain: true }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    await client.endAsync(true).catch(() => undefined);
    this.client = null;
  }

  /** Publishes as many batches as the in-flight window allows; partial batches only when `flush`. */
  private pump(flush: boolean): void {
    const client = this.client;
    if (!client || !client.connected || this.stopping) return;
    const { outbox, batchMaxSamples, inflightBatches } = this.options;
    while (this.inflight.size < inflightBatches) {
      const rows = outbox.peek(this.cursor, batchMaxSamples);
      if (rows.length === 0) return;
      const count = rows.reduce((n, r) => n + r.count, 0);
      const lastRow = rows[rows.length - 1] as OutboxBatch;
      const end = lastRow.firstSeq + lastRow.count - 1;
      // A batch is as full as it gets when more is stored behind it; otherwise a short one waits for maxDelay.
      if (count < batchMaxSamples && !flush && outbox.stats().lastSeq <= end) {
        this.armTimer();
        return;
      }
      this.cursor = end;
      for (const [kind, group] of groupByKind(rows)) this.publish(client, kind, group);
    }
  }

  private publish(client: MqttClient, kind: RecordKind, rows: OutboxBatch[]): void {
    const firstSeqs = rows.map((r) => r.firstSeq);
    const first = firstSeqs[0] ?? 0;
    const payload = encodeTelemetryBatch(this.options.deviceId, this.options.outbox.epoch, rows);
    const topic = kind === "telemetry" ? this.topics.telemetry : kind === "alarm" ? this.topics.alarms : this.topics.events;
    this.inflight.set(first, { first, rows: firstSeqs });
    client.publish(topic, payload, { qos: 1 }, (err) => {
      this.inflight.delete(first);
      if (err) {
        // Not acknowledged: read these rows again (a duplicate at worst, never a gap).
        this.cursor = Math.min(this.cursor, first - 1);
        this.lastError = errorMessage(err);
        return;
      }
      try {
        this.options.outbox.ack(firstSeqs);
      } catch (ackErr) {
        // The rows stay and are sent again later: a duplicate, never a loss.
        this.options.logger.error({ err: errorMessage(ackErr) }, "could not delete acknowledged rows");
      }
      this.batchesSent++;
      this.pump(false);
      if (this.inflight.size === 0) this.kick();
    });
  }
}

function groupByKind(rows: OutboxBatch[]): Map<RecordKind, OutboxBatch[]> {
  const groups = new Map<RecordKind, OutboxBatch[]>();
  for (const r of rows) {
    const list = groups.get(r.kind);
    if (list) list.push(r);
    else groups.set(r.kind, [r]);
  }
  return groups;
}
