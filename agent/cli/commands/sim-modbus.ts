import type { Logger } from "pino";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, type OptionValues } from "../command.js";
import { port, positiveInt, print } from "./sim-args.js";

/** `edge-agent sim modbus`: the Modbus simulator alone (TCP or RTU), optionally with its control endpoint. */
export async function runModbusSimulator(values: OptionValues, host: string, logger: Logger, done: Promise<number>): Promise<number> {
  for (const other of ["mqtt-port", "api-port", "data-dir", "no-agent"]) {
    if (values[other] !== undefined) throw new UsageError(`--${other} is for the full simulator mode, not for "sim modbus"`);
  }
  const rtu = typeof values.rtu === "string" ? values.rtu : undefined;
  if (values.rtu !== undefined && (rtu === undefined || rtu === "")) throw new UsageError("--rtu needs the path of a serial device");
  if (rtu !== undefined && (values.port !== undefined || values["modbus-port"] !== undefined)) throw new UsageError("--rtu and --port exclude each other: an RTU slave has no TCP port");
  if (rtu === undefined && values.baud !== undefined) throw new UsageError("--baud goes with --rtu");
  const baudRate = positiveInt(values, "baud");
  const tickMs = positiveInt(values, "tick-ms");
  const tcpPort = values.port !== undefined ? port(values, "port", 5020) : port(values, "modbus-port", 5020);
  const controlPort = values["control-port"] !== undefined ? port(values, "control-port", 0) : undefined;
  const profilePath = typeof values.config === "string" ? values.config : undefined;

  const { loadModbusProfile, startModbusSimulator, startModbusRtuSimulator, startModbusControlServer } = await import("../../../simulators/modbus/index.js");
  const { listenWithFallback } = await import("../../sim/ports.js");
  let sim: import("../../../simulators/modbus/index.js").ModbusSimulatorControls;
  let control: import("../../../simulators/modbus/index.js").ModbusControlServer | undefined;
  try {
    const profile = profilePath !== undefined ? await loadModbusProfile(profilePath) : undefined;
    const common = { logger, ...(profile !== undefined ? { profile } : {}), ...(tickMs !== undefined ? { tickMs } : {}) };
    if (rtu !== undefined) {
      sim = await startModbusRtuSimulator({ ...common, path: rtu, ...(baudRate !== undefined ? { baudRate } : {}) });
    } else {
      const { value, fellBack } = await listenWithFallback(tcpPort, (p) => startModbusSimulator({ ...common, host, port: p }));
      if (fellBack) print(`the default port is busy: the Modbus simulator listens on ${value.port} instead`);
      sim = value;
    }
  } catch (err) {
    process.stderr.write(`edge-agent sim modbus: could not start: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
  try {
    if (controlPort !== undefined) control = await startModbusControlServer(sim, { port: controlPort, logger });
  } catch (err) {
    process.stderr.write(`edge-agent sim modbus: could not start the control endpoint: ${errorMessage(err)}\n`);
    await sim.stop();
    return EXIT.failed;
  }
  print(`ready modbus=${sim.url}${control !== undefined ? ` control=${control.url}` : ""}`);
  const code = await done;
  await control?.close();
  await sim.stop();
  return code;
}
