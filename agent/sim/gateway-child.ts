import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

export interface GatewayChildOptions {
  id: string;
  cliPath: string;
  installRoot: string;
  configFile: string;
  /** Extra `supervise` arguments (health window, log level). */
  superviseArgs: string[];
  /** Where the gateway's output goes, one line at a time, already prefixed with its id. */
  output: (line: string) => void;
  /** Called when the supervisor exits while nobody asked it to stop (killed from outside, or failed). */
  onUnexpectedExit: (code: number | null, signal: NodeJS.Signals | null) => void;
  env?: NodeJS.ProcessEnv;
}

/** True while any process of process group `pgid` is alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    // EPERM means a process exists that we may not signal: still alive.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * One simulated gateway: `edge-agent supervise` as a child process in its own process group, with the
 * agent it starts in that group too. Ctrl-C in the terminal reaches only the demo process, which then
 * stops each gateway once; killing one gateway's group leaves the others running. Not restarted when
 * it dies: on a real gateway systemd would do that, and here the table shows it going offline.
 */
export class GatewayChild {
  private child: ChildProcess | null = null;
  private stopping = false;
  private exitedPromise: Promise<void> = Promise.resolve();

  constructor(private readonly o: GatewayChildOptions) {}

  get id(): string {
    return this.o.id;
  }

  /** The supervisor's pid, which is also the process group id of the gateway. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const o = this.o;
    const args = [o.cliPath, "supervise", "--install-root", o.installRoot, "--config", o.configFile, ...o.superviseArgs];
    const child = spawn(process.execPath, args, { env: o.env ?? process.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    this.child = child;
    // Prefixed lines, so the output of several gateways in one terminal stays readable.
    const relay = (stream: Readable | null) => {
      if (stream) createInterface({ input: stream, crlfDelay: Infinity }).on("line", (line) => o.output(`${o.id} | ${line}`));
    };
    relay(child.stdout);
    relay(child.stderr);
    this.exitedPromise = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        if (!this.stopping) o.onUnexpectedExit(code, signal);
        resolve();
      });
      // spawn failures (ENOENT, EAGAIN) arrive as "error" without "exit".
      child.once("error", () => resolve());
    });
  }

  /**
   * SIGTERM to the supervisor, which stops its agent and exits; after `timeoutMs`, SIGKILL to the whole
   * group. Whatever of the group outlives the supervisor (an agent that missed its stop) is killed too.
   */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    const child = this.child;
    const pgid = child?.pid;
    if (!child || pgid === undefined) return;
    const killGroup = () => {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // ESRCH: nothing of the group is left, which is the goal.
      }
    };
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(killGroup, timeoutMs);
    await this.exitedPromise;
    clearTimeout(timer);
    // The agent leaves when its IPC channel closes; give it a moment before forcing it.
    for (let i = 0; i < 20 && groupAlive(pgid); i++) await new Promise((r) => setTimeout(r, 100));
    if (groupAlive(pgid)) killGroup();
  }
}
