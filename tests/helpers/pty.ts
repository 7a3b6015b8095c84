/**
 * A pair of connected pseudo-terminals from socat: a serial cable without hardware. What is written
 * to one end comes out of the other. socat must be installed (.ci/run installs it); a missing socat
 * fails the test that needs it.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PtyPair {
  /** One end (give it to the simulator). */
  readonly a: string;
  /** The other end (give it to the client). */
  readonly b: string;
  stop(): Promise<void>;
}

export async function startPtyPair(): Promise<PtyPair> {
  const dir = await mkdtemp(join(tmpdir(), "modbus-pty-"));
  const a = join(dir, "a");
  const b = join(dir, "b");
  const child = spawn("socat", ["-d", "-d", `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let failure: string | undefined;
  child.once("error", (err) => (failure = `cannot run socat (apt-get install socat): ${err.message}`));
  const exited = new Promise<void>((resolve) => child.once("exit", (code) => {
    failure ??= `socat exited with ${code}: ${stderr}`;
    resolve();
  }));

  const deadline = Date.now() + 5000;
  while (!(existsSync(a) && existsSync(b))) {
    if (failure !== undefined) throw new Error(failure);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`socat did not create ${a} and ${b} within 5 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }

  let stopping: Promise<void> | undefined;
  return {
    a,
    b,
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
