/**
 * The device's subscription: one OPC UA subscription with a monitored item per subscribed point,
 * created in batches (items with the same sampling interval, queue and filter share a request). Every
 * publish response becomes one sink call, whatever the number of items in it. node-opcua keeps the
 * items through a reconnection (transferred to the new session, or recreated on a restarted server).
 */
import {
  AttributeIds,
  DataChangeFilter,
  DataChangeTrigger,
  DeadbandType,
  StatusCodes,
  TimestampsToReturn,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  type MonitoringParametersOptions,
  type NodeId,
  type NotificationMessage,
} from "node-opcua-client";
import type { Sample } from "../../model.js";
import type { OpcuaDeviceConfig, OpcuaPointConfig } from "./config.js";
import { toSample } from "./values.js";

export interface SubscribedPoint {
  point: OpcuaPointConfig;
  nodeId: NodeId;
}

export interface SubscriptionHealth {
  state: "none" | "creating" | "active" | "stale" | "failed";
  subscriptionId: number | null;
  revisedPublishingIntervalMs: number | null;
  monitoredItems: number;
  /** Items the server refused (unknown node, unsupported filter, ...): point -> status code name. */
  failedItems: Record<string, string>;
  lastPublishAt: number | null;
  keepAlives: number;
  notifications: number;
}

export interface SubscriptionEvents {
  samples(samples: Sample[]): void;
  /** The server ended the subscription (BadTimeout, terminated): the driver rebuilds the connection. */
  lost(reason: string): void;
  /** How many values a publish response carried (for notifications/s). */
  counted(n: number): void;
}

const BATCH = 1000;

function filterOf(point: OpcuaPointConfig): DataChangeFilter | null {
  const f = point.dataChangeFilter;
  if (!f) return null;
  const trigger = f.trigger === "status" ? DataChangeTrigger.Status : f.trigger === "statusValueTimestamp" ? DataChangeTrigger.StatusValueTimestamp : DataChangeTrigger.StatusValue;
  return new DataChangeFilter({ trigger, deadbandType: f.type === "percent" ? DeadbandType.Percent : DeadbandType.Absolute, deadbandValue: f.value });
}

export class DeviceSubscription {
  private subscription: ClientSubscription | null = null;
  /** clientHandle -> point id. */
  private readonly handles = new Map<number, string>();
  readonly health: SubscriptionHealth = {
    state: "none",
    subscriptionId: null,
    revisedPublishingIntervalMs: null,
    monitoredItems: 0,
    failedItems: {},
    lastPublishAt: null,
    keepAlives: 0,
    notifications: 0,
  };

  constructor(
    private readonly config: OpcuaDeviceConfig,
    private readonly clock: () => number,
    private readonly events: SubscriptionEvents,
  ) {}

  /** Creates the subscription and its items; returns the points the server refused, with the reason. */
  async create(session: ClientSession, points: readonly SubscribedPoint[]): Promise<Array<{ point: string; reason: string }>> {
    const s = this.config.subscription;
    this.health.state = "creating";
    const subscription = await session.createSubscription2({
      requestedPublishingInterval: s.publishingIntervalMs,
      requestedLifetimeCount: s.lifetimeCount,
      requestedMaxKeepAliveCount: s.keepAliveCount,
      maxNotificationsPerPublish: s.maxNotificationsPerPublish,
      publishingEnabled: true,
      priority: 10,
    });
    this.subscription = subscription;
    this.health.subscriptionId = subscription.subscriptionId;
    this.health.revisedPublishingIntervalMs = subscription.publishingInterval;
    subscription.on("raw_notification", (msg: NotificationMessage) => this.onNotification(msg));
    subscription.on("keepalive", () => {
      this.health.keepAlives++;
      this.health.lastPublishAt = this.clock();
    });
    subscription.on("subscriptionId_changed", (id: number) => {
      this.health.subscriptionId = id;
    });
    subscription.on("status_changed", (status) => {
      if (status.value === StatusCodes.BadTimeout.value) this.fail(`the server ended the subscription (${status.name})`);
    });
    subscription.on("terminated", () => this.fail("the subscription was terminated"));
    subscription.on("internal_error", (err: Error) => this.fail(`subscription error: ${err.message}`));
    subscription.on("error", (err: Error) => this.fail(`subscription error: ${err.message}`));

    const groups = new Map<string, { params: MonitoringParametersOptions; points: SubscribedPoint[] }>();
    for (const p of points) {
      const params: MonitoringParametersOptions = {
        samplingInterval: p.point.samplingIntervalMs ?? s.samplingIntervalMs,
        queueSize: p.point.queueSize ?? s.queueSize,
        discardOldest: true,
        filter: filterOf(p.point),
      };
      const key = JSON.stringify([params.samplingInterval, params.queueSize, p.point.dataChangeFilter ?? null]);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { params, points: [] }));
      g.points.push(p);
    }
    const refused: Array<{ point: string; reason: string }> = [];
    let created = 0;
    for (const g of groups.values()) {
      for (let i = 0; i < g.points.length; i += BATCH) {
        const chunk = g.points.slice(i, i + BATCH);
        const group = await subscription.monitorItems(
          chunk.map((p) => ({ nodeId: p.nodeId, attributeId: AttributeIds.Value })),
          g.params,
          TimestampsToReturn.Both,
        );
        group.monitoredItems.forEach((item, k) => {
          const p = chunk[k];
          if (!p) return;
          const status = item.statusCode;
          if (status && status.value >>> 30 >= 2) {
            refused.push({ point: p.point.id, reason: `the server refused the monitored item: ${status.name}` });
            this.health.failedItems[p.point.id] = status.name;
            return;
          }
          this.handles.set(item.monitoringParameters.clientHandle, p.point.id);
          created++;
        });
      }
    }
    this.health.monitoredItems = created;
    this.health.state = "active";
    this.health.lastPublishAt = this.clock();
    return refused;
  }

  /** Health as of now: a subscription that missed 3 keep-alive periods is stale. */
  snapshot(): SubscriptionHealth {
    const h = { ...this.health, failedItems: { ...this.health.failedItems } };
    if (h.state === "active" && h.lastPublishAt !== null) {
      const interval = h.revisedPublishingIntervalMs ?? this.config.subscription.publishingIntervalMs;
      const silence = this.clock() - h.lastPublishAt;
      if (silence > 3 * interval * this.config.subscription.keepAliveCount + this.config.timeoutMs) h.state = "stale";
    }
    return h;
  }

  /** Forgets the subscription (the session that held it is gone or being closed). */
  reset(): void {
    const sub = this.subscription;
    this.subscription = null;
    sub?.removeAllListeners();
    // A late error from a dead subscription must not crash the process.
    sub?.on("error", () => undefined);
    this.handles.clear();
    this.health.state = "none";
    this.health.subscriptionId = null;
    this.health.monitoredItems = 0;
    this.health.failedItems = {};
  }

  private fail(reason: string): void {
    if (this.health.state === "failed" || this.health.state === "none") return;
    this.health.state = "failed";
    this.events.lost(reason);
  }

  private onNotification(msg: NotificationMessage): void {
    const now = this.clock();
    this.health.lastPublishAt = now;
    const data = msg.notificationData;
    if (!data || data.length === 0) return;
    const samples: Sample[] = [];
    for (const n of data) {
      const items = (n as { monitoredItems?: Array<{ clientHandle: number; value: DataValue }> | null }).monitoredItems;
      if (!items) continue;
      for (const item of items) {
        const point = this.handles.get(item.clientHandle);
        if (point !== undefined) samples.push(toSample(point, item.value, now));
      }
    }
    if (samples.length === 0) return;
    this.health.notifications += samples.length;
    this.events.counted(samples.length);
    this.events.samples(samples);
  }
}
