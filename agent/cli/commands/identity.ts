import { resolve } from "node:path";
import { ConfigError } from "../../config/errors.js";
import { EXIT, UsageError, type Command, type OptionValues } from "../command.js";
import { str } from "./ota-args.js";

/** The data folder and configured device id from --data-dir or --config (exactly one of them). */
export async function dataDirFrom(values: OptionValues, command: string): Promise<{ dataDir: string; deviceId?: string } | { error: string }> {
  const dir = str(values, "data-dir");
  const file = str(values, "config");
  if ((dir === undefined) === (file === undefined)) throw new UsageError(`${command} needs --data-dir DIR or --config FILE (one of them)`);
  if (dir !== undefined) return { dataDir: resolve(dir) };
  const { loadConfig } = await import("../../config/load.js");
  try {
    const config = loadConfig(file as string);
    return { dataDir: resolve(config.dataDir), deviceId: config.device.id };
  } catch (err) {
    if (err instanceof ConfigError) return { error: err.message };
    throw err;
  }
}

export const identityCommand: Command = {
  name: "identity",
  summary: "Print this gateway's device id and public key (creates the key pair on first use)",
  help: `Usage: edge-agent identity --config FILE | --data-dir DIR

Prints the device id and the Ed25519 public key of this gateway, from DIR/identity.json (the config's
dataDir with --config). The key pair is created there on first use (mode 0600; when run as root in a
folder owned by the service user, the file goes to that user). The id is the config's device.id when
it names one, else derived from the public key: it stays the same for the life of the data folder.

Output (one "key: value" per line): id, idSource (config|key), derivedId, publicKey, file.

Options:
  -c, --config FILE    the agent's configuration (its dataDir and device.id)
      --data-dir DIR   the data folder itself
  -h, --help           show this help`,
  options: {
    config: { type: "string", short: "c" },
    "data-dir": { type: "string" },
  },
  async run(values) {
    const where = await dataDirFrom(values, "identity");
    if ("error" in where) {
      process.stderr.write(`${where.error}\n`);
      return EXIT.failed;
    }
    const { loadOrCreateIdentity } = await import("../../identity/identity.js");
    const identity = loadOrCreateIdentity(where.dataDir);
    const lines = [
      `id: ${where.deviceId ?? identity.derivedId}`,
      `idSource: ${where.deviceId === undefined ? "key" : "config"}`,
      `derivedId: ${identity.derivedId}`,
      `publicKey: ${identity.publicKey}`,
      `file: ${identity.file}`,
    ];
    process.stdout.write(lines.join("\n") + "\n");
    return EXIT.ok;
  },
};
