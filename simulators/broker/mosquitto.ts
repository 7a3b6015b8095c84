import { spawn, execFile, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort, waitForTcp } from "./net.js";

/** The Mosquitto binary: $MOSQUITTO, then PATH, then the usual sbin folders (not always on PATH). */
export function findMosquitto(): string | null {
  const candidates: string[] = [];
  if (process.env.MOSQUITTO) candidates.push(process.env.MOSQUITTO);
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(join(dir, "mosquitto"));
  candidates.push("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/opt/homebrew/sbin/mosquitto");
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next candidate
    }
  }
  return null;
}

/** `mosquitto -h` prints its version on the first line (and exits non-zero). */
export function mosquittoVersion(bin: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(bin, ["-h"], { timeout: 5000 }, (_err, stdout, stderr) => {
      const line = `${stdout}\n${stderr}`.split("\n").find((l) => /version/i.test(l));
      resolve(line?.trim() ?? "mosquitto (unknown version)");
    });
  });
}

export interface MosquittoOptions {
  bin: string;
  host?: string;
  /** Default: a free port. */
  port?: number;
  /** Extra mosquitto.conf lines (e.g. `max_queued_messages 100000`). */
  extraConfig?: string[];
}

export interface MosquittoBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  /** Stops the broker; start() brings it back on the same port (an outage in a test). */
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A real Mosquitto with a throwaway config on a loopback port, for tests and benchmarks. Each start
 * writes a fresh config in a temp folder, removed again on stop.
 */
export async function startMosquitto(options: MosquittoOptions): Promise<MosquittoBroker> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort(host));
  let child: ChildProcess | null = null;
  let dir = "";

  const start = async () => {
    dir = await mkdtemp(join(tmpdir(), "edge-mosquitto-"));
    const conf = join(dir, "mosquitto.conf");
    const lines = [`listener ${port} ${host}`, "allow_anonymous true", "persistence false", "log_dest stderr", "log_type error", "log_type warning", ...(options.extraConfig ?? [])];
    await writeFile(conf, lines.join("\n") + "\n");
    const p = spawn(options.bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    child = p;
    let stderr = "";
    p.stderr?.setEncoding("utf8");
    p.stderr?.on("data", (d: string) => (stderr = (stderr + d).slice(-4000)));
    let exited: string | null = null;
    p.once("exit", (code, signal) => (exited = `mosquitto exited (code ${code}, signal ${signal}): ${stderr.trim() || "(no output)"}`));
    p.once("error", (err) => (exited = `could not spawn ${options.bin}: ${err.message}`));
    try {
      await waitForTcp(host, port, 10_000, () => exited);
    } catch (err) {
      p.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  };

  const stop = async () => {
    const p = child;
    child = null;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise<void>((r) => p.once("exit", () => r()));
      p.kill("SIGTERM");
      const timer = setTimeout(() => p.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(timer);
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  };

  await start();
  return { host, port, url: `mqtt://${host}:${port}`, start, stop };
}
