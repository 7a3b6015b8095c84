import mqtt, { type MqttClient } from "mqtt";
import type { Clock } from "../model.js";
import type { Logger } from "../logger.js";
import type { Outbox, OutboxBatch, RecordKind } from "../store/outbox.js";
import { errorMessage } from "../errors.js";
import { encodeTelemetryBatch } from "./batch.js";
import { clientOptions, type MqttConnectionOptions } from "./connection.js";
import { groupByKind, OutboxReader, settle } from "./outbox-reader.js";
import { topicsFor, type Topics } from "./topics.js";

export interface MqttUplinkOptions extends MqttConnectionOptions {
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
  private readonly reader: OutboxReader;
  private readonly inflight = new Map<number, Inflight>();
  private stopping = false;
  private lastError: string | null = null;
  private connectedSince: number | null = null;
  private batchesSent = 0;
  private warnedDown = false;

  constructor(private readonly options: MqttUplinkOptions) {
    this.topics = topicsFor(options.root);
    this.reader = new OutboxReader({ ...options, onDue: (flush) => this.pump(flush) });
  }

  /** Starts connecting and returns at once: the agent stores data whether or not the broker is up. */
  start(): void {
    const o = this.options;
    const will = { topic: this.topics.state, payload: Buffer.from("offline"), qos: 1, retain: true } as const;
    const client = mqtt.connect(o.url, clientOptions(o, will, 2000));
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
    this.reader.kick();
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
    this.reader.stop();
    const client = this.client;
    if (!client) return;
    await settle(() => !client.connected || this.inflight.size === 0, graceMs, this.options.clock);
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
    while (this.inflight.size < this.options.inflightBatches) {
      const rows = this.reader.take(flush);
      if (!rows) return;
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
        this.reader.rewind(first);
        this.lastError = errorMessage(err);
        return;
      }
      this.reader.ack(firstSeqs);
      this.batchesSent++;
      this.pump(false);
      if (this.inflight.size === 0) this.kick();
    });
  }
}
