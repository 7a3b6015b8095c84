import { spawn, execFile, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { startEmbeddedBroker } from "../../simulators/broker/aedes-broker.js";

export type BrokerKind = "mosquitto" | "aedes";

export interface BenchBroker {
  readonly kind: BrokerKind;
  /** e.g. "mosquitto version 2.0.11" or "aedes (embedded, in this process)". */
  readonly version: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

export interface StartBrokerOptions {
  /** Force one broker; by default Mosquitto when installed, else aedes. EDGE_BENCH_BROKER overrides too. */
  prefer?: BrokerKind | undefined;
  /** Lines about what happened (fallback, start-up). */
  log?: ((line: string) => void) | undefined;
}

/** A free TCP port on 127.0.0.1, found by binding port 0. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

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
      // next
    }
  }
  return null;
}

async function mosquittoVersion(bin: string): Promise<string> {
  // `mosquitto -h` prints its version on the first line and exits non-zero.
  return new Promise((resolve) => {
    execFile(bin, ["-h"], { timeout: 5000 }, (_err, stdout, stderr) => {
      const line = `${stdout}\n${stderr}`.split("\n").find((l) => /version/i.test(l));
      resolve(line?.trim() ?? "mosquitto (unknown version)");
    });
  });
}

/** Resolves once something accepts TCP connections on host:port; rejects after timeoutMs or on `abort`. */
export async function waitForTcp(host: string, port: number, timeoutMs: number, abort?: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = abort?.();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host, port });
      sock.once("connect", () => {
        sock.destroy();
        resolve(true);
      });
      sock.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted TCP connections on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startMosquitto(bin: string): Promise<BenchBroker> {
  const host = "127.0.0.1";
  const port = await freePort(host);
  const dir = await mkdtemp(join(tmpdir(), "edge-bench-mosquitto-"));
  const conf = join(dir, "mosquitto.conf");
  await writeFile(
    conf,
    [
      `listener ${port} ${host}`,
      "allow_anonymous true",
      "persistence false",
      // A benchmark subscriber must never lose a message to a queue limit.
      "max_queued_messages 100000",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "",
    ].join("\n"),
  );
  const version = await mosquittoVersion(bin);
  const child: ChildProcess = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  let exited: string | null = null;
  child.once("exit", (code, signal) => {
    exited = `mosquitto exited (code ${code}, signal ${signal}) before accepting connections: ${stderr.trim() || "(no output)"}`;
  });
  child.once("error", (err) => {
    exited = `could not spawn ${bin}: ${err.message}`;
  });
  try {
    await waitForTcp(host, port, 5000, () => exited);
  } catch (err) {
    child.kill("SIGKILL");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    kind: "mosquitto",
    version,
    host,
    port,
    url: `mqtt://${host}:${port}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise<void>((r) => child.once("exit", () => r()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
        await gone;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the benchmark broker: a real Mosquitto (temp config, free port, killed on stop) when it is
 * installed, else the embedded aedes broker. The result says which one, so figures are never compared
 * across brokers by accident.
 */
export async function startBenchBroker(options: StartBrokerOptions = {}): Promise<BenchBroker> {
  const log = options.log ?? (() => undefined);
  const env = process.env.EDGE_BENCH_BROKER;
  const prefer = options.prefer ?? (env === "aedes" || env === "mosquitto" ? env : undefined);
  if (prefer !== "aedes") {
    const bin = findMosquitto();
    if (bin) {
      const broker = await startMosquitto(bin);
      log(`broker: ${broker.version} (${bin}) on ${broker.url}`);
      return broker;
    }
    if (prefer === "mosquitto") throw new Error("EDGE_BENCH_BROKER=mosquitto but no mosquitto binary was found");
    log("broker: mosquitto is not installed; falling back to the embedded aedes broker (figures are not comparable with a Mosquitto run)");
  }
  const embedded = await startEmbeddedBroker({ host: "127.0.0.1", port: 0 });
  log(`broker: aedes (embedded) on ${embedded.url}`);
  return {
    kind: "aedes",
    version: "embedded, in the benchmark process",
    host: embedded.host,
    port: embedded.port,
    url: embedded.url,
    stop: () => embedded.stop(),
  };
}
