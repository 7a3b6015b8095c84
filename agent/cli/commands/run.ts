import { ConfigError } from "../../config/errors.js";
import type { Runtime } from "../../runtime/runtime.js";
import { VERSION } from "../../version.js";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, parseLogLevel, type Command } from "../command.js";
import { HEALTH_INTERVAL_MS, type AgentHealthMessage } from "../../supervisor/ipc.js";

/** Sent over the IPC channel when `edge-agent sim` started this agent. */
export interface AgentReadyMessage {
  type: "ready";
  deviceId: string;
  api: { host: string; port: number } | null;
  topicRoot: string | null;
}

export const runCommand: Command = {
  name: "run",
  summary: "Run the agent with a configuration file",
  help: `Usage: edge-agent run --config FILE [--log-level LEVEL] [--log-format json|pretty]

Validates FILE, then starts the store, the MQTT uplink, the device drivers and the local API.
An invalid file stops here with every problem listed, before anything is opened.
SIGINT or SIGTERM stop it cleanly (exit 0); a second signal exits at once.

Options:
  -c, --config FILE        configuration file (YAML or JSON)
      --log-level LEVEL    fatal, error, warn, info, debug or trace (default: the config's log.level)
      --log-format FORMAT  json (default when stdout is not a terminal) or pretty
  -h, --help               show this help
  -V, --version            print the version`,
  options: {
    config: { type: "string", short: "c" },
    "log-level": { type: "string" },
    "log-format": { type: "string" },
  },
  async run(values) {
    const file = values.config;
    if (typeof file !== "string") throw new UsageError("run needs --config FILE");
    const level = parseLogLevel(values["log-level"]);
    const format = values["log-format"];
    if (format !== undefined && format !== "json" && format !== "pretty") throw new UsageError(`--log-format must be json or pretty, got ${JSON.stringify(format)}`);

    // Loaded here, not at the top: `edge-agent --help` should not pay for zod, SQLite and MQTT.
    const [{ loadConfigIsolated }, { createLogger }, { Runtime }, guards, { SystemdNotifier }] = await Promise.all([
      import("../../config/load-isolated.js"),
      import("../../log.js"),
      import("../../runtime/runtime.js"),
      import("../../runtime/process-guards.js"),
      import("../../systemd/notify.js"),
    ]);
    // Health for `edge-agent supervise` from the first moment: while starting, "not ok yet" reports
    // show the event loop turns (slow provisioning is not a hang, which the supervisor kills); once
    // running, ok reports are what commits an update.
    let runtime: Runtime | undefined;
    let configLoaded = false;
    const health = (): void => {
      if (!process.connected) return;
      const s = runtime?.status();
      const msg: AgentHealthMessage = s
        ? { type: "health", ok: s.store.fault === null, configLoaded: true, devicesConnected: s.drivers.filter((d) => d.connected).length, uplinkConnected: s.uplink ? s.uplink.connected : null }
        : { type: "health", ok: false, configLoaded, devicesConnected: 0, uplinkConnected: null };
      process.send?.(msg);
    };
    if (process.send) setInterval(health, HEALTH_INTERVAL_MS).unref();
    let config;
    try {
      config = await loadConfigIsolated(file);
      configLoaded = true;
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\nThe agent did not start.\n`);
        return EXIT.failed;
      }
      throw err;
    }
    const logger = createLogger({ level: level ?? config.log.level, pretty: format === undefined ? undefined : format === "pretty", name: "agent" });
    guards.installCrashGuards(logger);
    // Run directly by systemd as a Type=notify service (under `edge-agent supervise` the supervisor
    // speaks to systemd instead and these variables are not passed on).
    const systemd = SystemdNotifier.fromEnv(process.env, logger);
    // Signal handlers before anything starts: a SIGTERM during provisioning or the start (a service
    // stopped while the gateway boots) is a clean stop once the start has settled, never a hard kill.
    let startup: Promise<void> | undefined;
    guards.installShutdownHandlers({
      logger,
      stop: async () => {
        await startup?.catch(() => undefined);
        await Promise.all([systemd?.stopping(), runtime?.stop()]);
      },
    });
    // Zero-touch provisioning: stored or freshly claimed broker credentials replace the mqtt section's;
    // a refusal is logged and the agent runs on. Loaded only when configured: it pulls in the whole
    // config schema, which the agent's own thread otherwise never needs (the worker validated the file).
    if (config.provisioning) config = await (await import("../../identity/provisioning.js")).ensureProvisioned(config, logger);
    try {
      const starting = new Runtime({ config, configFile: file, logger, version: VERSION });
      // `runtime` is set inside the promise, so a stop waiting on it always sees the started runtime.
      startup = starting.start().then(() => void (runtime = starting));
      await startup;
    } catch (err) {
      logger.fatal({ err: errorMessage(err) }, "the agent could not start");
      return EXIT.failed;
    }
    const running = runtime as Runtime; // set by startup above
    const status = running.status();
    logger.info({ version: VERSION, deviceId: running.deviceId, devices: status.drivers.length, uplink: status.uplink?.url ?? null }, "agent running");
    if (systemd) {
      await systemd.ready(`running ${VERSION}: ${status.drivers.length} devices`);
      systemd.startWatchdog();
    }
    if (process.send) {
      const ready: AgentReadyMessage = {
        type: "ready",
        deviceId: running.deviceId,
        api: running.apiAddress(),
        topicRoot: status.uplink?.topics?.telemetry?.replace(/\/telemetry$/, "") ?? null,
      };
      process.send(ready);
      health();
    }
    // Keep running until a signal: the shutdown handler exits the process. The timer holds the event
    // loop open for a config with nothing else to do (no broker, no devices, API off), which would
    // otherwise exit 0 at once and be restarted in a loop by the supervisor.
    setInterval(() => undefined, 2 ** 30);
    return new Promise<number>(() => undefined);
  },
};
