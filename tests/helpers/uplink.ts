import type { MqttUplinkOptions } from "../../edge/uplink/mqtt-uplink.js";
import type { Outbox } from "../../edge/store/outbox.js";
import { testLogger } from "./logger.js";

/**
 * MqttUplink options for a test gateway named `name`: device id and client id from the name, topics
 * under `edge/{name}`, small batches sent quickly. Tests override what they are about.
 */
export function uplinkOptions(url: string, name: string, outbox: Outbox, overrides: Partial<MqttUplinkOptions> = {}): MqttUplinkOptions {
  return {
    url,
    clientId: `edge-agent-${name}`,
    protocolVersion: 4,
    keepaliveS: 10,
    deviceId: name,
    root: `edge/${name}`,
    batchMaxSamples: 10,
    batchMaxDelayMs: 20,
    inflightBatches: 2,
    outbox,
    logger: testLogger(),
    clock: Date.now,
    ...overrides,
  };
}
