import type { IClientOptions } from "mqtt";

/** How to reach the broker; shared by the JSON uplink and the Sparkplug B uplink. */
export interface MqttConnectionOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  /** PEM contents (not paths): the agent reads the files, so the data plane never touches the disk for them. */
  tls?: { ca?: Buffer | undefined; cert?: Buffer | undefined; key?: Buffer | undefined; rejectUnauthorized: boolean } | undefined;
  protocolVersion: 4 | 5;
  keepaliveS: number;
  /** false = a persistent session: the broker keeps this client's subscriptions and queued commands while it is away. */
  cleanSession?: boolean | undefined;
  /** MQTT 5, persistent session: how long the broker keeps it after a disconnect. */
  sessionExpiryS?: number | undefined;
}

export interface LastWill {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  retain: boolean;
}

/**
 * mqtt.js options for one uplink connection. `reconnectPeriodMs` 0 turns mqtt.js's own reconnects off,
 * for an uplink that must change its will between connections (Sparkplug's bdSeq).
 */
export function clientOptions(o: MqttConnectionOptions, will: LastWill, reconnectPeriodMs: number): IClientOptions {
  return {
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    protocolVersion: o.protocolVersion,
    keepalive: o.keepaliveS,
    reconnectPeriod: reconnectPeriodMs,
    connectTimeout: 10_000,
    clean: o.cleanSession ?? true,
    ...(o.protocolVersion === 5 && o.cleanSession === false ? { properties: { sessionExpiryInterval: o.sessionExpiryS ?? 86_400 } } : {}),
    will,
    // mqtt.js would otherwise pre-build a 2-byte Buffer for each of the 65,536 message ids: ~6 MB of
    // heap held for the process's life, to save one tiny allocation per publish.
    writeCache: false,
    ...(o.tls ? { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, rejectUnauthorized: o.tls.rejectUnauthorized } : {}),
  };
}
