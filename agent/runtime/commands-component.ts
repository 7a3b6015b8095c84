import type { Logger } from "../../edge/logger.js";
import type { SampleValue } from "../../edge/model.js";
import type { WriteResult } from "../../edge/pipeline/point-writer.js";
import type { Uplink } from "../../edge/uplink/mqtt-uplink.js";
import { MqttUplink } from "../../edge/uplink/mqtt-uplink.js";
import { CommandChannel } from "../../edge/uplink/commands.js";
import { expandRoot } from "../../edge/uplink/topics.js";
import { describeCommandError, registerCommands } from "../commands/handlers.js";
import type { RulesService } from "../rules/service.js";
import type { AgentConfig } from "../config/schema.js";
import type { Component } from "./component.js";

export interface CommandsComponentDeps {
  config: AgentConfig;
  deviceId: string;
  logger: Logger;
  uplink: () => Uplink | null;
  rules: () => RulesService;
  writePoint: (id: string, value: SampleValue) => Promise<WriteResult>;
  onStarted: (channel: CommandChannel | null) => void;
}

/**
 * Fleet commands over the JSON uplink's connection, started once the drivers can take writes.
 * Disabled by config, without a broker, or in Sparkplug mode (which has its own NCMD), nothing is
 * subscribed.
 */
export function commandsComponent(d: CommandsComponentDeps): Component {
  let channel: CommandChannel | null = null;
  return {
    name: "commands",
    start: () => {
      const uplink = d.uplink();
      const log = d.logger.child({ component: "commands" });
      if (!d.config.commands.enabled) {
        log.info("fleet commands are disabled by the config (commands.enabled: false)");
        return;
      }
      const mqtt = d.config.mqtt;
      if (!mqtt || !(uplink instanceof MqttUplink)) return;
      channel = new CommandChannel({ inbound: uplink.inbound, root: expandRoot(mqtt.topicRoot, d.deviceId), logger: log, describeError: describeCommandError });
      registerCommands(channel, { writePoint: d.writePoint, rules: d.rules() });
      channel.start();
      d.onStarted(channel);
    },
    stop: () => {
      channel?.stop();
      channel = null;
      d.onStarted(null);
    },
  };
}
