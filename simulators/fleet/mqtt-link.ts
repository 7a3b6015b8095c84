/**
 * The fleet's one MQTT connection: statuses and device states in, offers out. With a share group the
 * status subscription is `$share/GROUP/edge/+/ota/status`, so several fleet instances split the
 * status load (each status reaches one of them). Device states stay a plain subscription: every
 * instance needs to know who is online, and shared subscriptions never deliver retained messages.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { STATE_FILTER, STATUS_FILTER } from "./messages.js";

export interface FleetMqttOptions {
  url: string;
  /** 5 (default) or 4 (MQTT 3.1.1); Mosquitto supports $share with both. */
  protocolVersion?: 4 | 5;
  shareGroup?: string;
  clientId?: string;
  username?: string;
  password?: string;
  logger: Logger;
  onMessage(topic: string, payload: Buffer): void;
}

export interface FleetMqtt {
  readonly statusFilter: string;
  connected(): boolean;
  publish(topic: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export function statusFilterFor(shareGroup: string | undefined): string {
  if (shareGroup === undefined) return STATUS_FILTER;
  if (!/^[^/#+\s]{1,64}$/.test(shareGroup)) throw new EdgeError("FLEET_OPTIONS", `share group must be one topic level without '/', '#', '+', got ${JSON.stringify(shareGroup)}`);
  return `$share/${shareGroup}/${STATUS_FILTER}`;
}

export async function connectFleetMqtt(o: FleetMqttOptions): Promise<FleetMqtt> {
  const statusFilter = statusFilterFor(o.shareGroup);
  const logger = o.logger.child({ component: "fleet-mqtt" });
  let client: MqttClient;
  try {
    client = await mqtt.connectAsync(o.url, {
      protocolVersion: o.protocolVersion ?? 5,
      clientId: o.clientId ?? `edge-fleet-${Math.random().toString(16).slice(2, 10)}`,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
    }, false);
  } catch (err) {
    throw new EdgeError("FLEET_MQTT", `cannot connect to the broker ${o.url}: ${errorMessage(err)}`, { cause: err });
  }
  client.on("message", (topic, payload) => {
    try {
      o.onMessage(topic, payload);
    } catch (err) {
      // A handler bug must not kill the connection's event loop (mqtt.js would drop the client).
      logger.error({ topic, err: errorMessage(err) }, "fleet message handler failed");
    }
  });
  client.on("error", (err) => logger.warn({ err: err.message }, "mqtt error"));
  client.on("reconnect", () => logger.info("mqtt reconnecting"));
  const granted = await client.subscribeAsync({ [statusFilter]: { qos: 1 }, [STATE_FILTER]: { qos: 1 } });
  for (const g of granted) {
    if (g.qos === 128 || g.qos > 2) {
      await client.endAsync(true);
      throw new EdgeError("FLEET_MQTT", `the broker refused the subscription ${g.topic} (reason ${g.qos})`);
    }
  }
  logger.info({ url: o.url, statusFilter, protocolVersion: o.protocolVersion ?? 5 }, "fleet connected to the broker");
  return {
    statusFilter,
    connected: () => client.connected,
    publish: async (topic, payload) => {
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    close: () => client.endAsync(),
  };
}
