import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, type OptionValues } from "../command.js";
import { port, positiveInt, print } from "./sim-args.js";
import { fleetTablePrinter } from "./sim-fleet.js";

/** Each gateway is two Node processes (supervisor + agent); past this a laptop mostly swaps. */
const MAX_GATEWAYS = 20;

/** The shell command that starts a rollout of `release` over every gateway, the first one as canary. */
function rolloutCurl(fleetUrl: string, release: string, ids: string[]): string {
  const spec = { release, devices: ids, stages: [{ name: "canary", devices: ids.slice(0, 1) }, { name: "rest" }], failureThreshold: 0 };
  return `curl -s -X POST ${fleetUrl}/rollouts -H 'content-type: application/json' -d '${JSON.stringify(spec)}'`;
}

/**
 * `edge-agent sim fleet-demo`: broker, fleet server and N supervised gateways in one command, so a
 * developer can watch a rollout commit and a broken release roll back (agent/sim/fleet-demo.ts).
 */
export async function runFleetDemo(values: OptionValues, host: string, logger: Logger, done: Promise<number>): Promise<number> {
  for (const other of ["api-port", "no-agent", "rtu", "baud", "control-port", "modbus-port", "opcua-port", "bulk", "tick-ms", "config", "port", "mqtt", "mqtt-version", "releases", "public-url", "share-group", "claim-tokens", "require-proof"]) {
    if (values[other] !== undefined) throw new UsageError(`--${other} is not for "sim fleet-demo"`);
  }
  const count = positiveInt(values, "gateways") ?? 3;
  if (count > MAX_GATEWAYS) throw new UsageError(`--gateways is at most ${MAX_GATEWAYS} (each gateway is two Node processes), got ${count}`);
  const mqttPort = port(values, "mqtt-port", 1883);
  const fleetPort = port(values, "fleet-port", 0);
  const dataDir = typeof values["data-dir"] === "string" ? values["data-dir"] : "./data";

  const [{ startFleetDemo, DEMO_VERSIONS }, { renderTable }] = await Promise.all([import("../../sim/fleet-demo.js"), import("../../../simulators/fleet/index.js")]);
  let demo: import("../../sim/fleet-demo.js").FleetDemo | undefined;
  // A blank line before each table, so successive tables read as separate snapshots in a terminal.
  const table = fleetTablePrinter(() => demo && `\n${renderTable(demo.fleet.core.devices(), demo.fleet.core.rolloutViews())}`);
  // The fleet logs every offer at info; the table already shows that, so only warnings unless asked.
  const fleetLogger = logger.child({ component: "fleet" }, values["log-level"] === undefined ? { level: "warn" } : {});
  // Ctrl-C while the gateways come up ends the wait at once instead of after its timeout.
  const abort = new AbortController();
  void done.then(() => abort.abort());
  try {
    demo = await startFleetDemo({
      host,
      mqttPort,
      fleetPort,
      gateways: count,
      dataDir,
      cliPath: fileURLToPath(new URL("../main.js", import.meta.url)),
      logger: fleetLogger,
      print,
      gatewayOutput: (line) => process.stderr.write(line + "\n"),
      onChange: table.changed,
      onGatewayExit: (id, code, signal) => print(`gateway ${id} exited (${signal ?? `code ${code}`}); the other gateways and the fleet keep running`),
    });
  } catch (err) {
    process.stderr.write(`edge-agent sim fleet-demo: could not start: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
  try {
    await demo.waitOnline(90_000, abort.signal);
  } catch (err) {
    await demo.stop();
    if (abort.signal.aborted) return done;
    process.stderr.write(`edge-agent sim fleet-demo: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }

  const ids = demo.gateways.map((g) => g.id);
  const fleetUrl = demo.fleet.url;
  print(`ready mqtt=${demo.broker.url} fleet=${fleetUrl} gateways=${ids.join(",")}`);
  print("");
  print(`Fleet demo: ${ids.length} gateway(s) on the factory image ${DEMO_VERSIONS.factory}, each run by \`edge-agent supervise\`:`);
  for (const g of demo.gateways) print(`  ${g.id}  group=${g.group}  pid=${g.pid ?? "?"}  install=${g.installRoot}`);
  print(`Releases signed with a demo key and published: ${demo.releases.factory}, ${demo.releases.good} (good), ${demo.releases.broken} (crashes at start).`);
  print("");
  print(`1. Roll out the good release: ${ids[0]} first as the canary, then the rest; every gateway commits it.`);
  print(`   ${rolloutCurl(fleetUrl, demo.releases.good, ids)}`);
  print(`2. Roll out the broken one: the canary installs it, crashes, switches back on its own, and the rollout halts.`);
  print(`   ${rolloutCurl(fleetUrl, demo.releases.broken, ids)}`);
  print(`Follow: curl -s ${fleetUrl}/rollouts   curl -s ${fleetUrl}/devices   Kill one gateway: kill -9 -PID (the rest keep running)`);
  print(`Keys, releases and gateways: ${demo.dir} (recreated on every start). Press Ctrl-C to stop.`);
  print("");
  table.start();
  table.changed();

  const code = await done;
  table.cancel();
  await demo.stop();
  print("fleet demo stopped");
  return code;
}
