/**
 * Runs the Modbus simulator on its own:
 *   node dist/simulators/modbus/main.js [--host 127.0.0.1] [--port 5020] [--profile device.yaml] [--tick-ms 100]
 * Prints one `ready` line with the URL, and stops cleanly on SIGINT/SIGTERM.
 */
import { parseArgs } from "node:util";
import { errorMessage } from "../../edge/errors.js";
import { DEFAULT_MODBUS_SIM_HOST, DEFAULT_MODBUS_SIM_PORT, loadModbusProfile, startModbusSimulator } from "./index.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: DEFAULT_MODBUS_SIM_HOST },
      port: { type: "string", default: String(DEFAULT_MODBUS_SIM_PORT) },
      profile: { type: "string" },
      "tick-ms": { type: "string" },
    },
    strict: true,
  });
  const port = Number(values.port);
  const tickMs = values["tick-ms"] === undefined ? undefined : Number(values["tick-ms"]);
  const profile = values.profile === undefined ? undefined : await loadModbusProfile(values.profile);
  const sim = await startModbusSimulator({
    host: values.host,
    port,
    ...(profile !== undefined ? { profile } : {}),
    ...(tickMs !== undefined ? { tickMs } : {}),
  });
  process.stdout.write(`ready modbus=${sim.url}\n`);
  const shutdown = (): void => {
    void sim.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`modbus simulator: ${errorMessage(err)}\n`);
  process.exit(1);
});
