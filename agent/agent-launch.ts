/**
 * How the agent process (`edge-agent run`) is started, by everything that starts it: the supervisor
 * (the installed service), `edge-agent sim` and the benchmarks, which must measure what a gateway runs.
 *
 * The agent lives for months and at plant scale allocates a steady stream of short-lived objects
 * (10,000 readings a second); Node's memory defaults are sized for servers with RAM to spare:
 *  - --max-semi-space-size=4: a young generation of 2 x 4 MB instead of up to 2 x 16 MB. Readings
 *    die young either way; the space they die in is resident memory.
 *  - --heap-growing-percent=30: after a full collection the old generation may grow 30 % before the
 *    next one, where V8 would allow up to 4 times on a machine with lots of RAM. Not a cap: a large
 *    configuration still gets all the heap it needs (a hard --max-old-space-size would crash it).
 *  - MALLOC_ARENA_MAX=1: glibc gives each thread that allocates (V8's compiler and GC helpers, libuv's
 *    pool, the config worker) an arena of its own and keeps it for the life of the process; the agent
 *    allocates on one thread, and the helpers' share of the lock costs no measurable CPU.
 * With the store and uplink changes beside them they took the agent from ~150 MB to ~100-105 MB
 * resident at 100 devices x 100 points a second, at up to 2-3 percentage points more CPU (more
 * frequent collections), still under 10 % of a core (`npm run bench -- agent-load`).
 * `edge-agent run` started by hand runs with Node's defaults.
 */
export const AGENT_NODE_OPTIONS: readonly string[] = ["--max-semi-space-size=4", "--heap-growing-percent=30"];

export interface AgentLaunch {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

/**
 * `node [AGENT_NODE_OPTIONS] [nodeArgs] MAIN run RUNARGS`, in `env` plus the arena limit (a limit the
 * operator set in the environment wins). `nodeArgs` are extra Node.js options, e.g. for profiling.
 */
export function agentLaunch(main: string, runArgs: readonly string[], env: NodeJS.ProcessEnv = process.env, nodeArgs: readonly string[] = []): AgentLaunch {
  return {
    command: process.execPath,
    args: [...AGENT_NODE_OPTIONS, ...nodeArgs, main, "run", ...runArgs],
    env: { MALLOC_ARENA_MAX: "1", ...env },
  };
}
