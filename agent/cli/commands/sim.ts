import { fileURLToPath } from "node:url";
import { simulatorConfigPath } from "../../paths.js";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, parseLogLevel, type Command, type OptionValues } from "../command.js";
import type { Logger } from "pino";

function port(values: OptionValues, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || n > 65535) throw new UsageError(`--${name} must be a port 0..65535 (0 = any free port), got ${JSON.stringify(raw)}`);
  return n;
}

const print = (line: string) => process.stdout.write(line + "\n");

/** Resolves when SIGINT/SIGTERM arrives (or `fatal` is called); a second signal exits at once. */
function untilStopped(): { done: Promise<number>; fatal: (reason: string) => void } {
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => (finish = r));
  let signalled = false;
  const onSignal = () => {
    if (signalled) {
      print("second Ctrl-C: exiting without a clean stop");
      process.exit(130);
    }
    signalled = true;
    print("stopping the simulator mode (Ctrl-C again to force)...");
    finish(EXIT.ok);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    done,
    fatal: (reason) => {
      process.stderr.write(`edge-agent sim: ${reason}\n`);
      finish(EXIT.failed);
    },
  };
}

function positiveInt(values: OptionValues, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !/^\d+$/.test(raw) || Number(raw) < 1) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** `edge-agent sim modbus`: the Modbus simulator alone (TCP or RTU), optionally with its control endpoint. */
async function runModbusSimulator(values: OptionValues, host: string, logger: Logger, done: Promise<number>): Promise<number> {
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

export const simCommand: Command = {
  name: "sim",
  summary: "Simulator mode: simulated machines, an embedded MQTT broker and the agent",
  help: `Usage: edge-agent sim [modbus] [options]

Without a target: starts a simulated Modbus PLC, an embedded MQTT broker and the agent (as a child
process, with agent/config/examples/simulator.yaml), then prints one line
  ready mqtt=URL api=URL modbus=URL device=ID telemetry=TOPIC
and where to look. Killing the agent leaves the plant and the broker running (it is restarted).
Ctrl-C stops everything. A busy default port falls back to a free one, and the ready line says so.

Options:
      --host ADDR          address for every listener (default 127.0.0.1)
      --mqtt-port N        embedded broker port (default 1883; 0 = any free port)
      --api-port N         the agent's local API port (default 8080)
      --modbus-port N      Modbus simulator port (default 5020)
      --data-dir DIR       where the agent keeps its data (default ./data; the agent uses DIR/sim)
      --config FILE        run the agent with this config instead of the example
      --no-agent           start only the plant and the broker
      --log-level LEVEL    the agent's log level (default info)
  -h, --help               show this help
  -V, --version            print the version

edge-agent sim modbus: only the Modbus device simulator (simulators/modbus/README.md), over TCP or
as an RTU slave on a serial device; prints one line
  ready modbus=tcp://HOST:PORT [control=http://127.0.0.1:PORT]   (or modbus=rtu:///dev/ttyX)
  edge-agent sim modbus [--config PROFILE.yaml] [--port N | --rtu DEVICE [--baud 9600]] [--control-port N]

      --config FILE        the device profile (register map, signals, faults); default: the demo PLC
      --port N             Modbus TCP port (default 5020; 0 = any free port; --modbus-port works too)
      --host ADDR          Modbus TCP bind address (default 127.0.0.1)
      --rtu DEVICE         be a Modbus RTU slave on this serial device instead of a TCP server
      --baud N             RTU line speed (default 9600)
      --tick-ms N          how often the signals are updated (default 100)
      --control-port N     also serve the HTTP control endpoint on 127.0.0.1:N (0 = any free port):
                           GET /stats, GET|PUT|DELETE /faults, POST /offline?seconds=N[&unit=U], POST /online
      --log-level LEVEL    log level (default info)`,
  options: {
    host: { type: "string" },
    "mqtt-port": { type: "string" },
    "api-port": { type: "string" },
    "modbus-port": { type: "string" },
    "data-dir": { type: "string" },
    config: { type: "string" },
    "no-agent": { type: "boolean" },
    "log-level": { type: "string" },
    // sim modbus
    port: { type: "string" },
    rtu: { type: "string" },
    baud: { type: "string" },
    "tick-ms": { type: "string" },
    "control-port": { type: "string" },
  },
  positionals: true,
  async run(values, positionals) {
    const [target = "all", ...rest] = positionals;
    if (rest.length > 0 || !["all", "modbus"].includes(target)) throw new UsageError(`sim takes no target or "modbus", got "${positionals.join(" ")}"`);
    const host = typeof values.host === "string" ? values.host : "127.0.0.1";
    const level = parseLogLevel(values["log-level"]) ?? "info";
    const [{ createLogger }, { startSimMode }] = await Promise.all([import("../../log.js"), import("../../sim/mode.js")]);
    const logger = createLogger({ level, name: "sim" });
    const stopped = untilStopped();

    if (target === "modbus") {
      return runModbusSimulator(values, host, logger, stopped.done);
    }
    for (const only of ["port", "rtu", "baud", "tick-ms", "control-port"]) {
      if (values[only] !== undefined) throw new UsageError(`--${only} is for "sim modbus"`);
    }

    let mode;
    try {
      mode = await startSimMode({
        host,
        mqttPort: port(values, "mqtt-port", 1883),
        apiPort: port(values, "api-port", 8080),
        modbusPort: port(values, "modbus-port", 5020),
        dataDir: typeof values["data-dir"] === "string" ? values["data-dir"] : "./data",
        agent: values["no-agent"] !== true,
        configPath: typeof values.config === "string" ? values.config : simulatorConfigPath(),
        cliPath: fileURLToPath(new URL("../main.js", import.meta.url)),
        agentLogLevel: values["log-level"] as string | undefined,
        logger,
        print,
        onFatal: stopped.fatal,
      });
    } catch (err) {
      process.stderr.write(`edge-agent sim: could not start: ${errorMessage(err)}\n`);
      return EXIT.failed;
    }
    const code = await stopped.done;
    await mode.stop();
    print("simulator mode stopped");
    return code;
  },
};
