#!/usr/bin/env node
import { parseArgs } from "node:util";
import { VERSION } from "../version.js";
import { EXIT, UsageError, commonOptions, type Command } from "./command.js";
import { runCommand } from "./commands/run.js";
import { simCommand } from "./commands/sim.js";
import { validateCommand } from "./commands/validate.js";
import { opcuaCommand } from "./commands/opcua.js";
import { keysCommand } from "./commands/keys.js";
import { releaseCommand } from "./commands/release.js";
import { pointsCommand } from "./commands/points.js";
import { rulesCommand } from "./commands/rules.js";
import { alarmsCommand } from "./commands/alarms.js";
import { superviseCommand } from "./commands/supervise.js";
import { otaCommand } from "./commands/ota.js";
import { CliFailure } from "./api-client.js";
import { ConfigError } from "../config/errors.js";
import { identityCommand } from "./commands/identity.js";
import { provisionCommand } from "./commands/provision.js";

const commands: readonly Command[] = [
  runCommand,
  simCommand,
  validateCommand,
  pointsCommand,
  rulesCommand,
  alarmsCommand,
  opcuaCommand,
  keysCommand,
  releaseCommand,
  superviseCommand,
  otaCommand,
  identityCommand,
  provisionCommand,
];

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return `edge-agent ${VERSION}: Modbus and OPC UA in, SQLite store-and-forward, MQTT out.

Usage: edge-agent <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Options:
  -h, --help     show help (also after a command: edge-agent run --help)
  -V, --version  print the version

Start here: edge-agent sim   (simulated machines, a local broker and the agent, in one command)`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(mainHelp() + "\n");
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "-V") {
    process.stdout.write(VERSION + "\n");
    return EXIT.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"`);
  const { values, positionals } = parseArgs({
    args: rest,
    options: { ...commonOptions, ...command.options },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(command.help + "\n");
    return EXIT.ok;
  }
  // A command may take --version VALUE (release pack): only the bare flag asks for the tool's version.
  if (values.version === true) {
    process.stdout.write(VERSION + "\n");
    return EXIT.ok;
  }
  if (!command.positionals && positionals.length > 0) throw new UsageError(`${name} takes no argument "${positionals[0]}"`);
  return command.run(values, positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const isUsage = err instanceof UsageError || (err instanceof Error && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS"));
    if (isUsage) {
      process.stderr.write(`edge-agent: ${err.message}\nRun 'edge-agent --help' for usage.\n`);
      process.exitCode = EXIT.usage;
      return;
    }
    // Failures a user can act on (agent not reachable, refused by the API, bad file) need no stack.
    const plain = err instanceof CliFailure || err instanceof ConfigError;
    process.stderr.write(`edge-agent: ${err instanceof Error ? (plain ? err.message : (err.stack ?? err.message)) : String(err)}\n`);
    process.exitCode = EXIT.failed;
  },
);
