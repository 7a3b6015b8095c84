import type { Logger } from "pino";
import { errorMessage } from "../../../edge/errors.js";
import { EXIT, UsageError, type OptionValues } from "../command.js";
import { port, print } from "./sim-args.js";

/**
 * Prints the fleet's table when something changed: at most every 200 ms and only when it differs, so
 * a burst of statuses from a large wave gives one table instead of hundreds. `changed` is ignored
 * until `start`, so a caller can hold the table back until its ready line is out.
 */
export function fleetTablePrinter(render: () => string | undefined): { start(): void; changed(): void; cancel(): void } {
  let started = false;
  let last = "";
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    timer = undefined;
    const text = render();
    if (text === undefined || text === last) return;
    last = text;
    print(text);
  };
  return {
    start: () => void (started = true),
    changed: () => {
      if (started) timer ??= setTimeout(flush, 200);
    },
    // Also ignores later changes: devices going offline while everything stops is not news.
    cancel: () => {
      started = false;
      clearTimeout(timer);
    },
  };
}

/** `edge-agent sim fleet`: the fleet server simulator (simulators/fleet/README.md). */
export async function runFleetSimulator(values: OptionValues, host: string, logger: Logger, done: Promise<number>): Promise<number> {
  for (const other of ["mqtt-port", "api-port", "no-agent", "rtu", "baud", "control-port", "modbus-port", "opcua-port", "bulk", "tick-ms", "config", "data-dir", "gateways", "fleet-port"]) {
    if (values[other] !== undefined) throw new UsageError(`--${other} is not for "sim fleet"`);
  }
  const mqttUrl = values.mqtt;
  const releasesDir = values.releases;
  if (typeof mqttUrl !== "string" || mqttUrl === "") throw new UsageError("sim fleet needs --mqtt URL (the broker the gateways use)");
  if (typeof releasesDir !== "string" || releasesDir === "") throw new UsageError("sim fleet needs --releases DIR (a folder of signed releases)");
  const version = values["mqtt-version"];
  if (version !== undefined && version !== "5" && version !== "3.1.1" && version !== "4") throw new UsageError(`--mqtt-version must be 5 or 3.1.1, got ${JSON.stringify(version)}`);
  const shareGroup = typeof values["share-group"] === "string" ? values["share-group"] : undefined;
  const claimTokenFile = typeof values["claim-tokens"] === "string" ? values["claim-tokens"] : undefined;
  const publicUrl = typeof values["public-url"] === "string" ? values["public-url"] : undefined;

  const { startFleetServer, renderTable } = await import("../../../simulators/fleet/index.js");
  let fleet: import("../../../simulators/fleet/index.js").FleetServer | undefined;
  const table = fleetTablePrinter(() => fleet && renderTable(fleet.core.devices(), fleet.core.rolloutViews()));
  table.start();
  try {
    fleet = await startFleetServer({
      mqttUrl,
      releasesDir,
      host,
      port: port(values, "port", 0),
      mqttVersion: version === "3.1.1" || version === "4" ? 4 : 5,
      logger,
      requireProof: values["require-proof"] === true,
      ...(shareGroup !== undefined ? { shareGroup } : {}),
      ...(claimTokenFile !== undefined ? { claimTokenFile } : {}),
      ...(publicUrl !== undefined ? { publicUrl } : {}),
      onChange: table.changed,
    });
  } catch (err) {
    process.stderr.write(`edge-agent sim fleet: could not start: ${errorMessage(err)}\n`);
    return EXIT.failed;
  }
  print(`ready http=${fleet.url} mqtt=${fleet.mqttUrl} status=${fleet.statusFilter}`);
  const code = await done;
  table.cancel();
  await fleet.stop();
  return code;
}
