import { resolve } from "node:path";
import type { Logger } from "../../edge/logger.js";
import type { Uplink } from "../../edge/uplink/mqtt-uplink.js";
import { MqttUplink } from "../../edge/uplink/mqtt-uplink.js";
import { expandRoot } from "../../edge/uplink/topics.js";
import type { AgentConfig } from "../config/schema.js";
import type { Updater, UpdaterStatus } from "../ota/updater.js";
import type { Component } from "./component.js";

export interface OtaComponentDeps {
  config: AgentConfig;
  deviceId: string;
  logger: Logger;
  uplink: () => Uplink | null;
  onStarted: (status: (() => UpdaterStatus) | null) => void;
}

/**
 * The OTA client inside the running agent: offers arrive over the uplink's connection, status goes
 * back on it (from a persisted queue, so a report lost to an outage is sent later). Only a manifest
 * signed by a trusted key can install anything; the switch itself is the supervisor's.
 */
export function otaComponent(d: OtaComponentDeps): Component {
  let updater: Updater | null = null;
  return {
    name: "ota",
    start: async () => {
      const ota = d.config.ota;
      const log = d.logger.child({ component: "ota" });
      if (!ota.enabled || !ota.trustRoot) return;
      const uplink = d.uplink();
      if (!d.config.mqtt || !(uplink instanceof MqttUplink)) {
        log.warn("ota.enabled needs the JSON MQTT uplink (offers arrive over it): OTA is off");
        return;
      }
      // Loaded only when enabled: tweetnacl and the tar reader stay out of agents that do not update.
      const { Updater } = await import("../ota/updater.js");
      const { readRootFile } = await import("../ota/root.js");
      const inbound = uplink.inbound;
      updater = new Updater({
        installRoot: resolve(ota.installRoot),
        deviceId: d.deviceId,
        topicRoot: expandRoot(d.config.mqtt.topicRoot, d.deviceId),
        groups: ota.groups,
        shippedRoot: readRootFile(resolve(ota.trustRoot)),
        logger: log,
        transport: {
          subscribe: (topic, handler) => void inbound.subscribe(topic, (m) => handler(m.payload)),
          publish: (topic, payload) => inbound.publishAcked(topic, payload),
        },
      });
      const u = updater;
      inbound.onConnect(() => void u.flushReports());
      await u.start();
      d.onStarted(() => u.status());
      log.info({ installRoot: ota.installRoot, groups: ota.groups }, "OTA updates enabled");
    },
    stop: () => {
      updater?.stop();
      updater = null;
      d.onStarted(null);
    },
  };
}
