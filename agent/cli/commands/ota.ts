import { resolve } from "node:path";
import { EXIT, UsageError, type Command } from "../command.js";
import { failOnEdgeError, required } from "./ota-args.js";

export const otaCommand: Command = {
  name: "ota",
  summary: "Show the OTA update state of an install root",
  help: `Usage: edge-agent ota status --install-root DIR

Prints the update state (DIR/ota/state.json), the installed, previous and highest committed versions
of each kind, and how many status messages wait to be published, as one JSON object.

Options:
      --install-root DIR   install root (releases/, current, ota/)
  -h, --help               show this help`,
  options: { "install-root": { type: "string" } },
  positionals: true,
  async run(values, positionals) {
    const [sub, ...rest] = positionals;
    if (sub !== "status") throw new UsageError(sub === undefined ? "ota needs a subcommand: status" : `unknown ota subcommand "${sub}"`);
    if (rest.length > 0) throw new UsageError(`ota status takes no argument "${rest[0]}"`);
    const root = resolve(required(values, "install-root", "ota status"));
    return failOnEdgeError("ota status", async () => {
      const { otaStatusReport } = await import("../../ota/status-report.js");
      process.stdout.write(JSON.stringify(otaStatusReport(root), null, 2) + "\n");
      return EXIT.ok;
    });
  },
};
