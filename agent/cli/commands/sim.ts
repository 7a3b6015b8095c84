import { fileURLToPath } from "node:url";
import { simulatorConfigPath } from "../../paths.js";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, parseLogLevel, type Command, type OptionValues } from "../command.js";

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

export const simCommand: Command = {
  name: "sim",
  summary: "Simulator mode: simulated machines, an embedded MQTT broker and the agent",
  help: `Usage: edge-agent sim [modbus] [options]

Without a target: starts a simulated Modbus PLC, an embedded MQTT broker and the agent (as a child
process, with agent/config/examples/simulator.yaml), then prints one line
  ready mqtt=URL api=URL modbus=URL device=ID telemetry=TOPIC
and where to look. Killing the agent leaves the plant and the broker running (it is restarted).
Ctrl-C stops everything. A busy default port falls back to a free one, and the ready line says so.

  edge-agent sim modbus    only the Modbus TCP device simulator

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
  -V, --version            print the version`,
  options: {
    host: { type: "string" },
    "mqtt-port": { type: "string" },
    "api-port": { type: "string" },
    "modbus-port": { type: "string" },
    "data-dir": { type: "string" },
    config: { type: "string" },
    "no-agent": { type: "boolean" },
    "log-level": { type: "string" },
  },
  positionals: true,
  async run(values, positionals) {
    const [target = "all", ...rest] = positionals;
    if (rest.length > 0 || !["all", "modbus"].includes(target)) throw new UsageError(`sim takes no target or "modbus", got "${positionals.join(" ")}"`);
    const host = typeof values.host === "string" ? values.host : "127.0.0.1";
    const level = parseLogLevel(values["log-level"]) ?? "info";
    const [{ createLogger }, { startSimMode }, { startModbusSimulator }, { listenWithFallback }] = await Promise.all([
      import("../../log.js"),
      import("../../sim/mode.js"),
      import("../../../simulators/modbus/index.js"),
      import("../../sim/ports.js"),
    ]);
    const logger = createLogger({ level, name: "sim" });
    const stopped = untilStopped();

    if (target === "modbus") {
      const { value: sim, fellBack } = await listenWithFallback(port(values, "modbus-port", 5020), (p) => startModbusSimulator({ host, port: p, logger }));
      if (fellBack) print(`the default port is busy: the Modbus simulator listens on ${sim.port} instead`);
      print(`ready modbus=${sim.url}`);
      const code = await stopped.done;
      await sim.stop();
      return code;
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
