import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./ports.js";
import { startEmbeddedBroker } from "../../simulators/broker/aedes-broker.js";

export interface TestBroker {
  readonly kind: "mosquitto" | "aedes";
  readonly port: number;
  readonly url: string;
  /** Stops the broker (the port stays reserved for start()). */
  stop(): Promise<void>;
  /** Starts it again on the same port, e.g. after an outage. */
  start(): Promise<void>;
}

function mosquittoPath(): string | null {
  for (const p of ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"]) {
    try {
      execFileSync(p, ["-h"], { stdio: "ignore" });
      return p;
    } catch (err) {
      // mosquitto -h exits 3 but proves the binary runs; ENOENT means it is not there.
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" && (err as { status?: number }).status !== undefined) return p;
    }
  }
  return null;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/**
 * A real Mosquitto on a free loopback port with a throwaway config. Where Mosquitto is not installed
 * the tests fail under CI (CI=true, where .ci/run installs it) and fall back to the embedded aedes
 * broker on a developer's machine, saying so.
 */
export async function startTestBroker(): Promise<TestBroker> {
  const bin = mosquittoPath();
  const port = await freePort();
  if (!bin) {
    if (process.env.CI) throw new Error("mosquitto is not installed: .ci/run must apt-get install mosquitto");
    process.stderr.write("note: mosquitto not installed, using the embedded aedes broker (apt-get install mosquitto)\n");
    let broker = await startEmbeddedBroker({ port });
    return {
      kind: "aedes",
      port,
      url: `mqtt://127.0.0.1:${port}`,
      stop: () => broker.stop(),
      start: async () => {
        broker = await startEmbeddedBroker({ port });
      },
    };
  }
  let proc: ChildProcess | null = null;
  let dir = "";
  const start = async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-mosquitto-"));
    const conf = join(dir, "mosquitto.conf");
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type error\n`);
    const p = spawn(bin, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    proc = p;
    await waitFor(`mosquitto on port ${port} (${stderr})`, async () => (p.exitCode === null ? await accepts(port) : undefined), 10_000);
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  await start();
  return {
    kind: "mosquitto",
    port,
    url: `mqtt://127.0.0.1:${port}`,
    start,
    stop,
  };
}
