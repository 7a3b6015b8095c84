import { resolve } from "node:path";
import type { Logger } from "../../edge/logger.js";
import { startEmbeddedBroker, type EmbeddedBroker } from "../../simulators/broker/aedes-broker.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import type { OpcuaSimulator } from "../../simulators/opcua/index.js";
import { AgentChild } from "./agent-child.js";
import { listenWithFallback, pickPort } from "./ports.js";
import type { AgentReadyMessage } from "../cli/commands/run.js";

export interface SimModeOptions {
  host: string;
  mqttPort: number;
  apiPort: number;
  modbusPort: number;
  opcuaPort: number;
  dataDir: string;
  /** false: only the plant and the broker (run the agent yourself). */
  agent: boolean;
  /** The agent's config; the shipped example by default. */
  configPath: string;
  cliPath: string;
  agentLogLevel?: string | undefined;
  logger: Logger;
  /** Lines for people (the ready line, where to look): stdout by default. */
  print: (line: string) => void;
  /** Called when the agent cannot start at all (bad config): the mode should end. */
  onFatal: (reason: string) => void;
}

export interface SimMode {
  broker: EmbeddedBroker;
  modbus: ModbusSimulator;
  opcua: OpcuaSimulator;
  stop(): Promise<void>;
}

/**
 * The simulator mode: the plant (Modbus device) and an embedded broker in this process, the agent as
 * a child process. Every port is an option; a busy default port falls back to a free one, and the
 * ready line says which ports were used.
 */
export async function startSimMode(o: SimModeOptions): Promise<SimMode> {
  const log = o.logger;
  const parts: Array<{ stop(): Promise<void> }> = [];
  const stopAll = async () => {
    for (const p of parts.reverse()) await p.stop().catch((err: unknown) => log.error({ err }, "stop failed"));
  };
  try {
    const mqtt = await listenWithFallback(o.mqttPort, (port) => startEmbeddedBroker({ host: o.host, port }));
    parts.push(mqtt.value);
    if (mqtt.fellBack) o.print(`port ${o.mqttPort} is busy: the embedded MQTT broker listens on ${mqtt.value.port} instead`);

    const modbus = await listenWithFallback(o.modbusPort, (port) => startModbusSimulator({ host: o.host, port, logger: log }));
    parts.push(modbus.value);
    if (modbus.fellBack) o.print(`port ${o.modbusPort} is busy: the Modbus simulator listens on ${modbus.value.port} instead`);

    // node-opcua is loaded only here: `sim modbus` and the agent's Modbus-only runs never pay for it.
    const { startOpcuaSimulator } = await import("../../simulators/opcua/index.js");
    const pkiDir = resolve(o.dataDir, "sim", "opcua-sim-pki");
    const opcua = await listenWithFallback(o.opcuaPort, (port) => startOpcuaSimulator({ host: o.host, port, pkiDir, logger: log }));
    parts.push(opcua.value);
    if (opcua.fellBack) o.print(`port ${o.opcuaPort} is busy: the OPC UA simulator listens on ${opcua.value.port} instead`);

    const broker = mqtt.value;
    const plant = modbus.value;
    const readyInfo = { mqtt: broker.url, modbus: plant.url, opcua: opcua.value.endpointUrl };

    if (!o.agent) {
      o.print(`ready mqtt=${broker.url} modbus=${plant.url} opcua=${readyInfo.opcua}`);
      return { broker, modbus: plant, opcua: opcua.value, stop: stopAll };
    }

    const api = await pickPort(o.host, o.apiPort);
    if (api.fellBack) o.print(`port ${o.apiPort} is busy: the local API listens on ${api.port} instead`);
    const dataDir = resolve(o.dataDir, "sim");
    let announced = false;
    const child = new AgentChild({
      cliPath: o.cliPath,
      configPath: o.configPath,
      logLevel: o.agentLogLevel,
      logger: log.child({ component: "sim" }),
      env: {
        ...process.env,
        EDGE_SIM_MQTT_URL: broker.url,
        EDGE_SIM_MODBUS_PORT: String(plant.port),
        EDGE_SIM_OPCUA_URL: readyInfo.opcua,
        EDGE_SIM_API_PORT: String(api.port),
        EDGE_SIM_DATA_DIR: dataDir,
      },
      onReady: (msg) => {
        if (announced) {
          log.info({ pid: child.pid() }, "agent restarted and running");
          return;
        }
        announced = true;
        for (const line of banner(msg, readyInfo, dataDir)) o.print(line);
      },
      onStartFailure: (code) => o.onFatal(`the agent could not start (exit code ${code}); see its messages above`),
    });
    parts.push(child);
    child.start();
    return { broker, modbus: plant, opcua: opcua.value, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

function banner(msg: AgentReadyMessage, info: { mqtt: string; modbus: string; opcua: string }, dataDir: string): string[] {
  const api = msg.api ? `http://${msg.api.host}:${msg.api.port}` : "(disabled)";
  const root = msg.topicRoot ?? `edge/${msg.deviceId}`;
  const { hostname, port } = new URL(info.mqtt);
  return [
    `ready mqtt=${info.mqtt} api=${api} modbus=${info.modbus} opcua=${info.opcua} device=${msg.deviceId} telemetry=${root}/telemetry`,
    "",
    "Simulator mode is running: a simulated Modbus PLC and OPC UA server, an MQTT broker and the agent.",
    `  Live telemetry  mosquitto_sub -h ${hostname} -p ${port} -t 'edge/#' -v`,
    `  Status          curl ${api}/status`,
    `  Health          curl ${api}/health`,
    `  Metrics         curl ${api}/metrics`,
    `  Topics          ${root}/telemetry (JSON batches), ${root}/state (online/offline, retained)`,
    `  Modbus device   ${info.modbus} unit 1 (register map: simulators/modbus/README.md)`,
    `  OPC UA server   ${info.opcua} (address space: simulators/opcua/README.md)`,
    `  Data            ${dataDir}`,
    "Press Ctrl-C to stop.",
    "",
  ];
}
