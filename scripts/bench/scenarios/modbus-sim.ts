import type { BenchResult, Scenario } from "../scenario.js";
import { buildLibmodbusTools, makeProfile, runCLoad, startCServer, startSimulatorProcess, type LibmodbusTools, type ServerProcess } from "../modbus-tools.js";
import { ProcMeter, fmt } from "../util.js";

/**
 * Requests/s our Modbus TCP simulator serves, against the libmodbus C server, under the same load:
 * CLIENTS libmodbus C client processes at once, each on its own connection reading REGS holding
 * registers in a loop for a fixed count. The simulator runs in its own Node.js process
 * (dist/scripts/bench/sim-child.js, unit 1 with REGS changing registers), so it has an event loop to
 * itself; the C server forks a process per connection.
 */

const REGS = 125;
const CLIENTS = 4;
const TARGET_S = 2.5;
const CALIBRATE_COUNT = 2000;

interface LoadRun {
  requestsPerS: number;
  requests: number;
  seconds: number;
  perClient: number[];
  /** CPU of the server's main process over the run, % of one core (the C server's connection processes are not in it). */
  serverCpuPercent: number | null;
}

async function load(tools: LibmodbusTools, server: ServerProcess, count: number, meterServer: boolean): Promise<LoadRun> {
  const meter = meterServer ? new ProcMeter(server.pid) : null;
  meter?.sample();
  const r = await runCLoad(tools, server.port, CLIENTS, count, REGS);
  const ok = meter?.sample() ?? false;
  return { ...r, serverCpuPercent: meter && ok ? meter.result().cpuPercent : null };
}

export const modbusSimScenario: Scenario = {
  name: "modbus-sim",
  description:
    `Requests/s served by our Modbus simulator (own Node.js process) vs the libmodbus C server, each loaded by ${CLIENTS} libmodbus C clients ` +
    `at once reading ${REGS} holding registers per request for a fixed count.`,
  async run(ctx): Promise<BenchResult[]> {
    const tools = await buildLibmodbusTools(ctx);
    const rounds = Math.max(1, Number(process.env.EDGE_BENCH_ROUNDS ?? 2) || 2);
    const cServer = await startCServer(ctx, tools);
    let sim: ServerProcess | null = null;
    try {
      sim = await startSimulatorProcess(ctx, makeProfile(1, REGS));
      ctx.log(`libmodbus C server on port ${cServer.port}, simulator on port ${sim.port} (pid ${sim.pid})`);
      // Size each side's run to about TARGET_S seconds (a fixed count per client, from a short calibration).
      const countFor = async (s: ServerProcess) => {
        const cal = await runCLoad(tools, s.port, CLIENTS, CALIBRATE_COUNT, REGS);
        return Math.max(CALIBRATE_COUNT, Math.round((cal.requestsPerS * TARGET_S * ctx.scale) / CLIENTS));
      };
      const simCount = await countFor(sim);
      const cCount = await countFor(cServer);

      const simRuns: LoadRun[] = [];
      const cRuns: LoadRun[] = [];
      for (let r = 1; r <= rounds; r++) {
        const order = r % 2 === 1 ? (["c", "sim"] as const) : (["sim", "c"] as const);
        for (const side of order) {
          const run = side === "sim" ? await load(tools, sim, simCount, true) : await load(tools, cServer, cCount, false);
          (side === "sim" ? simRuns : cRuns).push(run);
          ctx.log(
            `round ${r}/${rounds} ${side === "sim" ? "simulator" : "C server "}: ${fmt(run.requestsPerS)} requests/s ` +
              `(${fmt(run.requests)} in ${run.seconds.toFixed(2)} s; per client ${run.perClient.map(fmt).join(", ")})` +
              (run.serverCpuPercent !== null ? `, simulator CPU ${run.serverCpuPercent.toFixed(0)} % of one core` : ""),
          );
        }
      }
      const best = (runs: LoadRun[]) => runs.reduce((a, b) => (b.requestsPerS > a.requestsPerS ? b : a));
      const s = best(simRuns);
      const c = best(cRuns);
      const round = (x: LoadRun) => ({ requestsPerS: Math.round(x.requestsPerS), requests: x.requests, seconds: Math.round(x.seconds * 1000) / 1000, perClient: x.perClient });
      return [
        {
          metric: "requests",
          unit: "requests/s",
          agent: s.requestsPerS,
          baseline: c.requestsPerS,
          higherIsBetter: true,
          baselineLabel: `libmodbus C server (fork per connection), same ${CLIENTS} C clients`,
          target: { on: "ratio", min: 0.7, source: "issue: simulator at least 0.7x the libmodbus C server" },
          details: {
            clients: CLIENTS,
            registersPerRequest: REGS,
            countPerClient: { simulator: simCount, cServer: cCount },
            figure: `best of ${rounds} rounds`,
            simulatorRounds: simRuns.map(round),
            cServerRounds: cRuns.map(round),
            simulatorCpuPercent: s.serverCpuPercent === null ? null : Math.round(s.serverCpuPercent),
            libmodbus: tools.version,
          },
        },
      ];
    } finally {
      await sim?.stop();
      await cServer.stop();
    }
  },
};

export default modbusSimScenario;
