import { EXIT, UsageError, type Command } from "../command.js";
import { required } from "./ota-args.js";

export const provisionCommand: Command = {
  name: "provision",
  summary: "Claim this gateway at the fleet server now (zero-touch provisioning by hand)",
  help: `Usage: edge-agent provision --config FILE [--force]

Does what the agent does at start when the config has a provisioning section and no credentials are
stored: sends the claim token, the device id and the public key to provisioning.url/provision (with
proof of the key when the fleet asks for it), and stores the group and MQTT credentials it gets back
in DATADIR/provisioning.json (mode 0600, written atomically). Prints the group and the broker.

Already provisioned: prints the stored record and changes nothing, unless --force claims again
(a claim token works once: --force needs a new one).

Exit code: 0 provisioned, 1 refused or unreachable (the reason on stderr), 2 usage error.

Options:
  -c, --config FILE  the agent's configuration (provisioning.url, provisioning.claimToken, dataDir)
      --force        claim again even if credentials are stored
  -h, --help         show this help`,
  options: {
    config: { type: "string", short: "c" },
    force: { type: "boolean" },
  },
  async run(values) {
    const file = required(values, "config", "provision");
    const [{ loadConfig }, { ConfigError }, p] = await Promise.all([
      import("../../config/load.js"),
      import("../../config/errors.js"),
      import("../../identity/provisioning.js"),
    ]);
    let config;
    try {
      config = loadConfig(file);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${err.message}\n`);
        return EXIT.failed;
      }
      throw err;
    }
    if (!config.provisioning) throw new UsageError(`${file} has no provisioning section (provisioning: { url, claimToken })`);
    const out = (r: import("../../identity/provisioning.js").ProvisioningRecord, how: string) =>
      process.stdout.write(`${how}: ${r.deviceId} in group ${r.group}, broker ${r.mqtt.url} as ${r.mqtt.username}\nfile: ${p.provisioningFile(config.dataDir)}\n`);
    try {
      const stored = values.force === true ? null : p.readProvisioning(config.dataDir);
      if (stored) {
        out(stored, "already provisioned");
        return EXIT.ok;
      }
      out(await p.provisionDevice({ provisioning: config.provisioning, dataDir: config.dataDir, deviceId: config.device.id }), "provisioned");
      return EXIT.ok;
    } catch (err) {
      if (err instanceof p.ProvisioningError) {
        process.stderr.write(`edge-agent provision: ${err.code}: ${err.message}\n`);
        return EXIT.failed;
      }
      throw err;
    }
  },
};
