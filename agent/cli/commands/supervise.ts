import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { EXIT, UsageError, parseLogLevel, type Command } from "../command.js";
import { parseDuration } from "./duration.js";
import { required, str } from "./ota-args.js";

export const superviseCommand: Command = {
  name: "supervise",
  summary: "Run the installed agent, switch to OTA updates, commit them or roll them back",
  help: `Usage: edge-agent supervise --install-root DIR --config FILE [--health-window 60s] [--healthy-for 10s]

Runs DIR/current/dist/agent/cli/main.js run --config FILE as a child process and restarts it (with a
growing delay) when it exits. When the agent has installed an update (state "switching" in
DIR/ota/state.json), it switches DIR/current to the new release and starts it: healthy without a
break for --healthy-for within --health-window commits the update; a crash or no health in time
switches back to the previous release and records why. A committed config bundle
(DIR/config-current/config.yaml) replaces --config.

Run it from a fixed copy outside DIR/releases (see agent/ota/README.md), under systemd.
An agent that stops reporting health for 30 s (120 s before its first report) is hung: it is killed
and restarted. Started by systemd as a Type=notify service, it reports READY=1 and its state
(systemctl status) and pings the watchdog (WatchdogSec=, NotifyAccess=all) while it can keep an agent
running; the agent does not inherit systemd's notify variables.

Options:
      --install-root DIR    install root (releases/, current, ota/)
  -c, --config FILE         the agent's configuration file
      --health-window DUR   time a new version has to prove healthy (default 60s)
      --healthy-for DUR     healthy reports without a break that commit it (default: a third of the window, at most 10s)
      --log-level LEVEL     the supervisor's own log level (default info)
  -h, --help                show this help`,
  options: {
    "install-root": { type: "string" },
    config: { type: "string", short: "c" },
    "health-window": { type: "string" },
    "healthy-for": { type: "string" },
    "log-level": { type: "string" },
  },
  async run(values) {
    const installRoot = resolve(required(values, "install-root", "supervise"));
    const configFile = resolve(required(values, "config", "supervise"));
    const window = str(values, "health-window");
    const healthy = str(values, "healthy-for");
    const healthWindowMs = window === undefined ? undefined : parseDuration(window, "health-window");
    const healthyForMs = healthy === undefined ? undefined : parseDuration(healthy, "healthy-for");
    if (healthWindowMs !== undefined && healthyForMs !== undefined && healthyForMs >= healthWindowMs) throw new UsageError("--healthy-for must be shorter than --health-window");
    // Loaded once here, before anything runs: supervisor.ts imports the rest statically, so nothing is
    // loaded later from a folder that an update may have changed.
    const [{ createLogger }, { Supervisor }, { SystemdNotifier, withoutNotifyEnv }] = await Promise.all([
      import("../../log.js"),
      import("../../supervisor/supervisor.js"),
      import("../../systemd/notify.js"),
    ]);
    const logger = createLogger({ level: parseLogLevel(values["log-level"]) ?? "info", name: "supervisor" });
    const systemd = SystemdNotifier.fromEnv(process.env, logger);
    const supervisor = new Supervisor({
      installRoot,
      configFile,
      healthWindowMs,
      healthyForMs,
      logger,
      env: withoutNotifyEnv(process.env),
      onAgentStart: ({ pid, version, testing }) => void systemd?.status(`agent ${version ?? "?"} running (pid ${pid})${testing ? ", an update under test" : ""}`),
    });
    if (!existsSync(supervisor.layout.agentMain)) {
      process.stderr.write(`edge-agent supervise: ${supervisor.layout.agentMain} does not exist; install a release first (releases/<version>/ and a current link)\n`);
      return EXIT.failed;
    }
    await supervisor.start();
    if (systemd) {
      const pid = supervisor.agentPid();
      await systemd.ready(pid === undefined ? "supervising (agent not running yet)" : `agent ${supervisor.layout.currentVersion("agent") ?? "?"} running (pid ${pid})`);
      systemd.startWatchdog(() => supervisor.stuck());
      logger.info({ watchdogIntervalMs: systemd.watchdogIntervalMs }, "reported ready to systemd");
    }
    return new Promise<number>((resolveExit) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) process.exit(130);
        stopping = true;
        logger.info({ signal }, "stopping the agent and the supervisor");
        Promise.all([systemd?.stopping(), supervisor.stop()]).then(
          () => resolveExit(EXIT.ok),
          () => resolveExit(EXIT.failed),
        );
      };
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGTERM", () => stop("SIGTERM"));
    });
  },
};
