/**
 * The Modbus simulator in a process of its own, for the benchmarks (so a load generator or the agent
 * never shares its event loop):
 *   node dist/scripts/bench/sim-child.js PROFILE.json [TICK_MS]
 * Prints `ready modbus=tcp://127.0.0.1:PORT` (a free port) and runs until SIGTERM/SIGINT.
 */
import { readFileSync } from "node:fs";
import { startModbusSimulator, type ModbusProfile } from "../../simulators/modbus/index.js";

const [file, tick] = process.argv.slice(2);
if (!file) {
  process.stderr.write("usage: sim-child.js PROFILE.json [TICK_MS]\n");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, "utf8")) as ModbusProfile;
const sim = await startModbusSimulator({ host: "127.0.0.1", port: 0, profile, ...(tick ? { tickMs: Number(tick) } : {}) });
process.stdout.write(`ready modbus=${sim.url}\n`);
const stop = () => void sim.stop().then(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
