import { fileURLToPath } from "node:url";
import { simulatorConfigPath } from "../../paths.js";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, parseLogLevel, type Command, type OptionValues } from "../command.js";
import { port, print } from "./sim-args.js";
import { runModbusSimulator } from "./sim-modbus.js";
import { runOpcuaSimulator } from "./sim-opcua.js";
import { runFleetSimulator } from "./sim-fleet.js";
import { runFleetDemo } from "./sim-fleet-demo.js";



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
  help: `Usage: edge-agent sim [modbus | opcua | fleet | fleet-demo] [options]

Without a target: starts a simulated Modbus PLC and OPC UA server, an embedded MQTT broker and the agent (as a child
process, with agent/config/examples/simulator.yaml), then prints one line
  ready mqtt=URL api=URL modbus=URL opcua=URL device=ID telemetry=TOPIC
and where to look. Killing the agent leaves the plant and the broker running (it is restarted).
Ctrl-C stops everything. A busy default port falls back to a free one, and the ready line says so.

Options:
      --host ADDR          address for every listener (default 127.0.0.1)
      --mqtt-port N        embedded broker port (default 1883; 0 = any free port)
      --api-port N         the agent's local API port (default 8080)
      --modbus-port N      Modbus simulator port (default 5020)
      --opcua-port N       OPC UA simulator port (default 4840)
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
      --log-level LEVEL    log level (default info)

edge-agent sim opcua: only the OPC UA factory server (simulators/opcua/README.md); prints
  ready opcua=opc.tcp://HOST:PORT thumbprint=SHA1

      --port N             OPC UA port (default 4840; 0 = any free port; --opcua-port works too)
      --bulk N             add N extra changing variables (for load tests)
      --data-dir DIR       the server's PKI goes to DIR/sim/opcua-sim-pki (default ./data)

edge-agent sim fleet: the fleet server simulator (simulators/fleet/README.md): serves signed releases over
HTTP, offers them over MQTT in staged rollouts, provisions devices with claim tokens; prints one line
  ready http=URL mqtt=URL status=FILTER
then a per-device table whenever something changes; everything else through its HTTP API (JSON).
  edge-agent sim fleet --mqtt URL --releases DIR [--port 0] [--share-group NAME] [--claim-tokens FILE]

      --mqtt URL           the broker (mqtt://HOST:PORT)
      --mqtt-version V     5 (default) or 3.1.1
      --releases DIR       folder of releases: NAME.tar.gz, NAME.manifest.json, NAME.manifest.json.sig
      --port N             HTTP port (default 0 = any free port)
      --public-url URL     base URL for download links in offers (default http://HOST:PORT)
      --share-group NAME   take statuses through $share/NAME/edge/+/ota/status (several instances)
      --claim-tokens FILE  JSON claim tokens: {"tokens":[{"token","group"}]}
      --require-proof      provisioning needs the device's signature over a server nonce

edge-agent sim fleet-demo: watch a rollout end to end. An embedded broker, the fleet server and N gateways
(each \`edge-agent supervise\` running this checkout's agent, with its own install root, data and config)
in one command; a demo root of trust and release key, and three releases signed at start: 1.0.0 (the
factory image on every gateway), 1.1.0 (good) and 1.2.0 (crashes at start). Prints one line
  ready mqtt=URL fleet=URL gateways=gw-1,gw-2,...
then the curl commands for a good and a broken rollout, then the fleet's table whenever it changes.
Ctrl-C stops everything; a killed gateway leaves the others running (it is not restarted).
  edge-agent sim fleet-demo [--gateways 3] [--data-dir DIR] [--mqtt-port 1883] [--fleet-port 0]

      --gateways N         how many gateways (default 3, at most 20)
      --data-dir DIR       the demo lives in DIR/fleet-demo, recreated on every start (default ./data)
      --mqtt-port N        embedded broker port (default 1883; 0 = any free port)
      --fleet-port N       fleet server HTTP port (default 0 = any free port)
      --log-level LEVEL    the fleet's log level (default warn here: the table shows its progress)`,
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
    // sim opcua
    "opcua-port": { type: "string" },
    bulk: { type: "string" },
    // sim fleet
    mqtt: { type: "string" },
    "mqtt-version": { type: "string" },
    releases: { type: "string" },
    "public-url": { type: "string" },
    "share-group": { type: "string" },
    "claim-tokens": { type: "string" },
    "require-proof": { type: "boolean" },
    // sim fleet-demo
    gateways: { type: "string" },
    "fleet-port": { type: "string" },
  },
  positionals: true,
  async run(values, positionals) {
    const [target = "all", ...rest] = positionals;
    if (rest.length > 0 || !["all", "modbus", "opcua", "fleet", "fleet-demo"].includes(target)) throw new UsageError(`sim takes no target, "modbus", "opcua", "fleet" or "fleet-demo", got "${positionals.join(" ")}"`);
    const host = typeof values.host === "string" ? values.host : "127.0.0.1";
    const level = parseLogLevel(values["log-level"]) ?? "info";
    const [{ createLogger }, { startSimMode }] = await Promise.all([import("../../log.js"), import("../../sim/mode.js")]);
    const logger = createLogger({ level, name: "sim" });
    const stopped = untilStopped();

    if (target === "modbus") return runModbusSimulator(values, host, logger, stopped.done);
    if (target === "opcua") return runOpcuaSimulator(values, host, logger, stopped.done);
    if (target === "fleet") return runFleetSimulator(values, host, logger, stopped.done);
    if (target === "fleet-demo") return runFleetDemo(values, host, logger, stopped.done);
    for (const only of ["gateways", "fleet-port"]) {
      if (values[only] !== undefined) throw new UsageError(`--${only} is for "sim fleet-demo"`);
    }
    for (const only of ["port", "rtu", "baud", "tick-ms", "control-port", "bulk", "mqtt", "mqtt-version", "releases", "public-url", "share-group", "claim-tokens", "require-proof"]) {
      if (values[only] !== undefined) throw new UsageError(`--${only} is for "sim ${["mqtt", "mqtt-version", "releases", "public-url", "share-group", "claim-tokens", "require-proof"].includes(only) ? "fleet" : "modbus"}"`);
    }

    let mode;
    try {
      mode = await startSimMode({
        host,
        mqttPort: port(values, "mqtt-port", 1883),
        apiPort: port(values, "api-port", 8080),
        modbusPort: port(values, "modbus-port", 5020),
        opcuaPort: port(values, "opcua-port", 4840),
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
