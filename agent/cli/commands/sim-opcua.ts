import type { Logger } from "pino";
import { resolve } from "node:path";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, type OptionValues } from "../command.js";
import { port, positiveInt, print } from "./sim-args.js";

/** `edge-agent sim opcua`: the OPC UA factory server alone, for the agent or any other OPC UA client. */
export async function runOpcuaSimulator(values: OptionValues, host: string, logger: Logger, done: Promise<number>): Promise<number> {
  for (const other of ["mqtt-port", "api-port", "no-agent", "rtu", "baud", "control-port", "modbus-port"]) {
    if (values[other] !== undefined) throw new UsageError(`--${other} is not for "sim opcua"`);
  }
  const opcuaPort = values.port !== undefined ? port(values, "port", 4840) : port(values, "opcua-port", 4840);
  const bulkVariables = positiveInt(values, "bulk");
  const dataDir = typeof values["data-dir"] === "string" ? values["data-dir"] : "./data";
  const { startOpcuaSimulator } = await import("../../../simulators/opcua/index.js");
  const { listenWithFallback } = await import("../../sim/ports.js");
  let sim: import("../../../simulators/opcua/index.js").OpcuaSimulator;
  try {
    const pkiDir = resolve(dataDir, "sim", "opcua-sim-pki"); // one server certificate, trusted once
    const { value, fellBack } = await listenWithFallback(opcuaPort, (p) =>
      startOpcuaSimulator({ host, port: p, pkiDir, logger, ...(bulkVariables !== undefined ? { bulkVariables } : {}) }),
    );
    if (fellBack) print(`the default port is busy: the OPC UA simulator listens on ${value.port} instead`);
    sim = value;
  } catch (err) {
    process.stderr.write(`edge-agent sim opcua: could not start: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
  print(`ready opcua=${sim.endpointUrl} thumbprint=${sim.certificateThumbprint() ?? "?"}`);
  const code = await done;
  await sim.stop();
  return code;
}
