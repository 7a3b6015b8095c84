import mqtt, { type MqttClient } from "mqtt";
import type { Clock } from "../model.js";
import type { Logger } from "../logger.js";
import type { Outbox } from "../store/outbox.js";
import { gzipSync } from "node:zlib";
import { errorMessage } from "../errors.js";
import { encodeTelemetryBatch } from "./batch.js";
import { topicsFor, type Topics } from "./topics.js";
import { DrainPlanner, drainOptions, type DrainProgress, type PlannedBatch } from "./drain.js";
import { clientOptions, type MqttConnectionOptions } from "./connection.js";
import { ackRows, groupByKind, settle } from "./shared.js";
import { InboundRouter } from "./inbound.js";

export interface MqttUplinkOptions extends MqttConnectionOptions {
  deviceId: string;
  /** Topic root with {deviceId} already expanded, e.g. `edge/gw-1`. */
  root: string;
  batchMaxSamples: number;
  batchMaxDelayMs: number;
  /** Batches published and not yet acknowledged at once; more hides broker round trips during a drain. */
  inflightBatches: number;
  /** Most backlog samples per second after an outage (0 = as fast as the broker takes them); live data goes first either way. */
  backlogMaxPerS?: number | undefined;
  /**
   * Publish `state = online` only once announceOnline() was called (the agent calls it when every
   * component has subscribed): the fleet offers updates and sends commands as soon as it sees a device
   * online, and a message on a topic nobody subscribed to yet is gone. Default false (online at connect).
   */
  deferOnline?: boolean | undefined;
  /** gzip each payload (it then starts with the gzip magic bytes 1f 8b; MQTT 5 also says so in contentType). */
  compress?: boolean | undefined;
  outbox: Outbox;
  logger: Logger;
  clock: Clock;
}

/** What the runtime needs of an uplink, whatever its format (JSON batches or Sparkplug B). */
export interface Uplink {
  start(): void;
  /** New records were stored. */
  kick(): void;
  status(): UplinkStatus;
  stop(graceMs?: number): Promise<void>;
}

export interface UplinkStatus {
  /** The topics a consumer subscribes to (JSON mode: telemetry and state). */
  topics?: Record<string, string>;
  url: string;
  connected: boolean;
  lastError: string | null;
  connectedSince: number | null;
  /** The broker still had this client's session (persistent sessions, cleanSession false). */
  sessionPresent?: boolean;
  batchesSent: number;
  inflightBatches: number;
  /** Backlog drain: pending records, acknowledged records per second, time to empty. */
  drain: DrainProgress;
}

/**
 * Publishes the outbox over MQTT: batches with QoS 1, rows deleted only when the broker's PUBACK comes
 * back, `state` = online (retained) on connect and offline through the last will. What goes next is
 * the DrainPlanner's call: alarms and events first, live telemetry next, an outage's backlog behind.
 */
export class MqttUplink implements Uplink {
  readonly topics: Topics;
  /** Messages coming in on this connection (fleet commands): subscriptions survive reconnects. */
  readonly inbound: InboundRouter;
  private client: MqttClient | null = null;
  private readonly planner: DrainPlanner;
  private stopping = false;
  private lastError: string | null = null;
  private connectedSince: number | null = null;
  private sessionPresent = false;
  private batchesSent = 0;
  private warnedDown = false;
  private announced: boolean;

  constructor(private readonly options: MqttUplinkOptions) {
    this.announced = !options.deferOnline;
    this.topics = topicsFor(options.root);
    this.inbound = new InboundRouter(options.logger);
    this.planner = new DrainPlanner(
      drainOptions(
        options,
        () => !this.stopping && (this.client?.connected ?? false),
        (batch) => this.client && this.publish(this.client, batch),
      ),
    );
  }

  /** Starts connecting and returns at once: the agent stores data whether or not the broker is up. */
  start(): void {
    const o = this.options;
    const client = mqtt.connect(o.url, clientOptions(o, { topic: this.topics.state, payload: Buffer.from("offline"), qos: 1, retain: true }, 2000));
    this.client = client;
    this.inbound.attach(client);
    client.on("connect", (connack) => {
      this.connectedSince = o.clock();
      this.sessionPresent = connack.sessionPresent;
      this.warnedDown = false;
      this.planner.onConnect();
      const { pending } = this.planner.progress();
      o.logger.info({ url: o.url, root: o.root, pending }, pending > 0 ? "uplink connected; draining the backlog" : "uplink connected");
      // On a reconnect the inbound subscriptions go out first (InboundRouter's connect handler is
      // attached before this one), so the broker has them before anyone sees the device online.
      if (this.announced) client.publish(this.topics.state, "online", { qos: 1, retain: true });
      this.planner.drive(true);
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

  /** The agent is fully started (its subscriptions are in place): tell the fleet the device is online. */
  announceOnline(): void {
    if (this.announced) return;
    this.announced = true;
    if (this.client?.connected) this.client.publish(this.topics.state, "online", { qos: 1, retain: true });
  }

  /** Tells the uplink new records were stored: send now if a full batch waits, else within maxDelay. */
  kick(): void {
    this.planner.drive(false);
  }

  status(): UplinkStatus {
    return {
      topics: { telemetry: this.topics.telemetry, state: this.topics.state },
      url: this.options.url,
      connected: this.client?.connected ?? false,
      lastError: this.lastError,
      connectedSince: this.connectedSince,
      sessionPresent: this.sessionPresent,
      batchesSent: this.batchesSent,
      inflightBatches: this.planner.inflightCount,
      drain: this.planner.progress(),
    };
  }

  /**
   * Stops sending, gives the batches in flight a moment to be acknowledged (fewer duplicates after a
   * restart), marks the device offline (a clean DISCONNECT does not fire the will) and disconnects.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    this.planner.stop();
    const client = this.client;
    if (!client) return;
    await settle(() => !client.connected || this.planner.inflightCount === 0, graceMs, this.options.clock);
    if (client.connected) {
      await Promise.race([
        client.publishAsync(this.topics.state, "offline", { qos: 1, retain: true }).catch(() => undefined),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    }
    this.inbound.detach();
    await client.endAsync(true).catch(() => undefined);
    this.client = null;
  }

  private publish(client: MqttClient, batch: PlannedBatch): void {
    const groups = groupByKind(batch.rows);
    let open = groups.size;
    let failed: Error | null = null;
    for (const [kind, rows] of groups) {
      const text = encodeTelemetryBatch(this.options.deviceId, this.options.outbox.epoch, rows);
      const topic = kind === "telemetry" ? this.topics.telemetry : kind === "alarm" ? this.topics.alarms : this.topics.events;
      const payload = this.options.compress ? gzipSync(text) : Buffer.from(text);
      const properties = this.options.compress && this.options.protocolVersion === 5 ? { properties: { contentType: "application/json+gzip" } } : {};
      client.publish(topic, payload, { qos: 1, ...properties }, (err) => {
        if (err) failed = err;
        else {
          ackRows(this.options.outbox, rows.map((r) => r.firstSeq), this.options.logger);
          this.batchesSent++;
        }
        if (--open > 0) return;
        if (failed) {
          this.lastError = errorMessage(failed);
          this.planner.failed(batch);
        } else this.planner.acked(batch);
        this.planner.drive(false);
      });
    }
  }
}
