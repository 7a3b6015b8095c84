import type { IClientPublishOptions, MqttClient } from "mqtt";
import type { Logger } from "../logger.js";
import { errorMessage } from "../errors.js";

/** A message received on a subscribed topic, with the MQTT 5 request/response fields when present. */
export interface InboundMessage {
  topic: string;
  payload: Buffer;
  responseTopic?: string;
  correlationData?: Buffer;
}

export type InboundHandler = (message: InboundMessage) => void;

/** What an uplink offers for messages coming in: subscriptions that survive reconnects, and replies. */
export interface Inbound {
  /** Subscribes with QoS 1, now when connected and again on every reconnect; returns an unsubscribe. */
  subscribe(filter: string, handler: InboundHandler): () => void;
  /** Publishes a reply with QoS 1 (queued by the client while the link is down). */
  publish(topic: string, payload: string, options?: { correlationData?: Buffer }): void;
  /** Publishes with QoS 1 and resolves on the broker's PUBACK; rejects at once while disconnected (the caller keeps it and retries). */
  publishAcked(topic: string, payload: Buffer | string): Promise<void>;
  /** Called on every (re)connect, e.g. to send what waited for the link. */
  onConnect(listener: () => void): void;
}

/** Whether a topic matches an MQTT filter (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split("/");
  const t = topic.split("/");
  for (let i = 0; i < f.length; i++) {
    if (f[i] === "#") return true;
    if (i >= t.length || (f[i] !== "+" && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

/**
 * The inbound side of an uplink's MQTT connection. The uplink attaches its client; consumers (the
 * command channel) subscribe through here and never see the client, so the uplink stays in charge of
 * the connection. Subscriptions are sent again on every connect: with a clean session the broker
 * forgot them, and sending them twice is harmless.
 */
export class InboundRouter implements Inbound {
  private client: MqttClient | null = null;
  private readonly subs = new Map<string, InboundHandler>();
  private readonly connectListeners: Array<() => void> = [];

  constructor(private readonly logger: Logger) {}

  attach(client: MqttClient): void {
    this.client = client;
    client.on("connect", () => {
      for (const filter of this.subs.keys()) this.send(filter);
      for (const listener of this.connectListeners) {
        try {
          listener();
        } catch (err) {
          this.logger.error({ err: errorMessage(err) }, "a connect listener threw");
        }
      }
    });
    client.on("message", (topic, payload, packet) => {
      const props = packet.properties;
      const message: InboundMessage = { topic, payload };
      if (props?.responseTopic) message.responseTopic = props.responseTopic;
      if (props?.correlationData) message.correlationData = props.correlationData;
      for (const [filter, handler] of this.subs) {
        if (!topicMatches(filter, topic)) continue;
        try {
          handler(message);
        } catch (err) {
          this.logger.error({ topic, err: errorMessage(err) }, "an inbound message handler threw");
        }
      }
    });
  }

  detach(): void {
    this.client = null;
  }

  subscribe(filter: string, handler: InboundHandler): () => void {
    this.subs.set(filter, handler);
    if (this.client?.connected) this.send(filter);
    return () => {
      this.subs.delete(filter);
      if (this.client?.connected) this.client.unsubscribe(filter);
    };
  }

  publish(topic: string, payload: string, options: { correlationData?: Buffer } = {}): void {
    const client = this.client;
    if (!client) {
      this.logger.warn({ topic }, "reply dropped: the uplink is stopped");
      return;
    }
    const opts: IClientPublishOptions = { qos: 1, ...(options.correlationData ? { properties: { correlationData: options.correlationData } } : {}) };
    client.publish(topic, payload, opts, (err) => {
      if (err) this.logger.warn({ topic, err: errorMessage(err) }, "reply not delivered");
    });
  }

  publishAcked(topic: string, payload: Buffer | string): Promise<void> {
    const client = this.client;
    if (!client?.connected) return Promise.reject(new Error("the uplink is not connected"));
    return new Promise((resolve, reject) => client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  }

  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  private send(filter: string): void {
    this.client?.subscribe(filter, { qos: 1 }, (err) => {
      if (err) this.logger.error({ filter, err: errorMessage(err) }, "subscribe failed");
      else this.logger.debug({ filter }, "subscribed");
    });
  }
}
