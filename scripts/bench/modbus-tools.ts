/**
 * What the Modbus scenarios share: the libmodbus C client and server (scripts/bench/c/*.c, compiled at
 * run time into bench/build/), the simulator in its own Node.js process, and child-process plumbing.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import type { ModbusProfile } from "../../simulators/modbus/index.js";
import type { BenchContext } from "./scenario.js";

const run = promisify(execFile);

/** The Debian/Ubuntu package that provides libmodbus' headers, library and pkg-config file. */
export const LIBMODBUS_PACKAGE = "libmodbus-dev";

export interface LibmodbusTools {
  client: string;
  server: string;
  /** libmodbus version from pkg-config, e.g. "3.1.6". */
  version: string;
}

let built: Promise<LibmodbusTools> | null = null;

/**
 * Compiles scripts/bench/c/modbus-{client,server}.c into <root>/bench/build/ (once per run) with
 * `gcc -O2 $(pkg-config --cflags --libs libmodbus)`. Throws a message naming the package to install
 * when libmodbus (or gcc, or pkg-config) is missing.
 */
export function buildLibmodbusTools(ctx: BenchContext): Promise<LibmodbusTools> {
  built ??= build(ctx).catch((e: unknown) => {
    built = null;
    throw e;
  });
  return built;
}

async function build(ctx: BenchContext): Promise<LibmodbusTools> {
  let flags: string[];
  let version: string;
  try {
    version = (await run("pkg-config", ["--modversion", "libmodbus"])).stdout.trim();
    flags = (await run("pkg-config", ["--cflags", "--libs", "libmodbus"])).stdout.trim().split(/\s+/).filter(Boolean);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "pkg-config itself is not installed" : "pkg-config does not know libmodbus";
    // The package name first: the results table shows only the start of the message.
    throw new Error(
      `libmodbus not found: apt-get install -y ${LIBMODBUS_PACKAGE} pkg-config (${why}; the C client and server baselines are built against it)`,
    );
  }
  const src = join(ctx.root, "scripts", "bench", "c");
  const out = join(ctx.root, "bench", "build");
  await mkdir(out, { recursive: true });
  const tools: LibmodbusTools = { client: join(out, "modbus-client"), server: join(out, "modbus-server"), version };
  for (const [name, bin] of [["modbus-client", tools.client], ["modbus-server", tools.server]] as const) {
    const file = join(src, `${name}.c`);
    if (!existsSync(file)) throw new Error(`${file} is missing (the bench runs from a source checkout)`);
    try {
      await run("gcc", ["-O2", "-Wall", file, "-o", bin, ...flags]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      if (err.code === "ENOENT") throw new Error(`gcc is not installed: it compiles the libmodbus C baselines (apt-get install -y gcc ${LIBMODBUS_PACKAGE})`);
      throw new Error(`compiling ${file} failed (is ${LIBMODBUS_PACKAGE} installed?):\n${err.stderr ?? err.message}`);
    }
  }
  ctx.log(`libmodbus ${version}: compiled modbus-client and modbus-server into bench/build/`);
  return tools;
}

// ---------------------------------------------------------------------------------------------------
// Child processes

export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Stops a child we started: `signal` first, SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  if (!(await waitExit(child, graceMs))) {
    child.kill("SIGKILL");
    await waitExit(child, 5000);
  }
}

/** A long-running child that prints one `ready ...` line once it serves. */
export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  readonly child: ChildProcess;
  /** The last lines of its output (for error messages). */
  tail(): string;
  stop(): Promise<void>;
}

async function startServerProcess(
  what: string,
  command: string,
  args: string[],
  portOf: (readyLine: string) => number | null,
  cwd: string,
): Promise<ServerProcess> {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  const keep = (line: string) => {
    tail = (tail + line + "\n").slice(-4000);
  };
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} printed no ready line within 20 s; its output:\n${tail}`)), 20_000);
    let done = false;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const p = done ? null : portOf(line);
      if (p !== null) {
        done = true;
        clearTimeout(timer);
        resolve(p);
      } else keep(line);
    });
    createInterface({ input: child.stderr! }).on("line", keep);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${what} could not be started: ${e.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (!done) reject(new Error(`${what} exited (${signal ?? code}) before it was ready; its output:\n${tail}`));
    });
  }).catch(async (e: unknown) => {
    await stopChild(child, "SIGKILL");
    throw e;
  });
  if (child.pid === undefined) throw new Error(`${what} has no pid`);
  return { pid: child.pid, port, child, tail: () => tail, stop: () => stopChild(child) };
}

/** The libmodbus C server (one forked process per connection; they die with it). */
export function startCServer(ctx: BenchContext, tools: LibmodbusTools): Promise<ServerProcess> {
  return startServerProcess("the libmodbus C server", tools.server, ["127.0.0.1", "0"], (l) => numberOrNull(/^ready port=(\d+)/.exec(l)?.[1]), ctx.root);
}

/** Our Modbus simulator with `profile` in its own Node.js process (scripts/bench/sim-child.ts). */
export async function startSimulatorProcess(ctx: BenchContext, profile: ModbusProfile, tickMs?: number): Promise<ServerProcess> {
  const main = join(ctx.root, "dist", "scripts", "bench", "sim-child.js");
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const dir = await ctx.tmpDir("modbus-profile-");
  const file = join(dir, "profile.json");
  await writeFile(file, JSON.stringify(profile));
  // EDGE_BENCH_SIM_NODE_ARGS: Node.js options for the simulator, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.EDGE_BENCH_SIM_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  const args = [...nodeArgs, main, file, ...(tickMs !== undefined ? [String(tickMs)] : [])];
  return startServerProcess("the Modbus simulator", process.execPath, args, (l) => numberOrNull(/^ready modbus=tcp:\/\/[^\s]*:(\d+)/.exec(l)?.[1]), ctx.root);
}

const numberOrNull = (s: string | undefined) => (s === undefined ? null : Number(s));

/**
 * A simulator profile: `units` unit ids (1..units), each with `registers` uint16 holding registers at
 * 0..registers-1 whose values change (ramps, sines, counters), so every poll reads fresh data.
 */
export function makeProfile(units: number, registers: number): ModbusProfile {
  return {
    units: Array.from({ length: units }, (_, u) => ({
      unit: u + 1,
      signals: Array.from({ length: registers }, (_, r) => {
        const base = { name: `r${r}`, table: "holding" as const, address: r, type: "uint16" as const };
        switch (r % 3) {
          case 0:
            return { ...base, signal: { kind: "ramp" as const, min: 0, max: 1000, periodS: 10 + (r % 7) } };
          case 1:
            return { ...base, signal: { kind: "sine" as const, min: 0, max: 500, periodS: 5 + (u % 11), phaseS: r } };
          default:
            return { ...base, signal: { kind: "counter" as const, start: u * 1000 + r, step: 1, perS: 1 } };
        }
      }),
    })),
  };
}

// ---------------------------------------------------------------------------------------------------
// The C client

export interface ClientResult {
  requests: number;
  registers: number;
  errors: number;
  elapsedS: number;
  requestsPerS: number;
  firstError: string;
}

export interface ClientRun {
  readonly pid: number;
  readonly result: Promise<ClientResult>;
  /** Kills it if it still runs (its result then rejects). */
  stop(): Promise<void>;
}

/**
 * Starts `modbus-client HOST PORT UNIT COUNT REGS UNITS PERIOD_MS`; `result` resolves with its JSON
 * line, or rejects when it failed or any request failed.
 */
export function startCClient(
  tools: LibmodbusTools,
  o: { port: number; unit?: number; count: number; regs: number; units?: number; periodMs?: number },
): ClientRun {
  const args = ["127.0.0.1", String(o.port), String(o.unit ?? 1), String(o.count), String(o.regs), String(o.units ?? 1), String(o.periodMs ?? 0)];
  const child = spawn(tools.client, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let errText = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (errText = (errText + d).slice(-2000)));
  const result = new Promise<ClientResult>((resolve, reject) => {
    child.once("error", (e) => reject(new Error(`modbus-client could not be started: ${e.message}`)));
    // 'close', not 'exit': 'exit' can come before the last of stdout has been read (seen on a loaded
    // machine as "exited (0) without a result").
    child.once("close", (code, signal) => {
      let parsed: ClientResult | null = null;
      try {
        parsed = JSON.parse(out.trim().split("\n").pop() ?? "") as ClientResult;
      } catch {
        // reported below
      }
      if (parsed && code === 0 && parsed.errors === 0) resolve(parsed);
      else if (parsed) reject(new Error(`modbus-client ${args.join(" ")}: ${parsed.errors} failed requests, first: ${parsed.firstError}`));
      else reject(new Error(`modbus-client ${args.join(" ")} exited (${signal ?? code}) without a result: ${errText.trim()}`));
    });
  });
  if (child.pid === undefined) throw new Error("modbus-client has no pid");
  result.catch(() => undefined); // a caller that stops the client early need not wait for its result
  return { pid: child.pid, result, stop: () => stopChild(child, "SIGKILL") };
}

export const runCClient = (tools: LibmodbusTools, o: Parameters<typeof startCClient>[1]) => startCClient(tools, o).result;

/**
 * `clients` C clients at once against one server, each doing `count` requests of `regs` registers on
 * its own connection (unit id 1). The aggregate rate is every request over the longest
 * client's elapsed time (wall time of the whole load, not a sum of per-client rates).
 */
export async function runCLoad(
  tools: LibmodbusTools,
  port: number,
  clients: number,
  count: number,
  regs: number,
): Promise<{ requests: number; seconds: number; requestsPerS: number; perClient: number[] }> {
  const runs = Array.from({ length: clients }, (_, i) => startCClient(tools, { port, unit: 1, count, regs }).result);
  const results = await Promise.all(runs);
  const requests = results.reduce((n, r) => n + r.requests, 0);
  const seconds = Math.max(...results.map((r) => r.elapsedS));
  return { requests, seconds, requestsPerS: requests / seconds, perClient: results.map((r) => Math.round(r.requestsPerS)) };
}
