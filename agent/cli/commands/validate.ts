import { ConfigError } from "../../config/errors.js";
import { EXIT, UsageError, type Command } from "../command.js";

export const validateCommand: Command = {
  name: "validate",
  summary: "Check a configuration file without starting anything",
  help: `Usage: edge-agent validate FILE

Checks FILE (YAML or JSON) against the configuration schema and prints every problem with its path
and line, e.g.  devices[1].points[3].register: expected integer 0..65535, got -4
Nothing is started or written.

Exit code: 0 valid, 1 invalid, 2 usage error.`,
  options: {},
  positionals: true,
  async run(_values, positionals) {
    const [file, ...rest] = positionals;
    if (!file || rest.length > 0) throw new UsageError("validate takes exactly one FILE");
    const { loadConfig } = await import("../../config/load.js");
    try {
      const config = loadConfig(file);
      const points = config.devices.reduce((n, d) => n + d.points.length, 0);
      process.stdout.write(`${file} is valid: ${config.devices.length} device(s), ${points} point(s)${config.mqtt ? `, broker ${config.mqtt.url}` : ", no broker"}\n`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(err.message + "\n");
        return EXIT.failed;
      }
      throw err;
    }
  },
};
