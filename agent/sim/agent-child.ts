import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "../../edge/logger.js";
import type { AgentReadyMessage } from "../cli/commands/run.js";
import { agentLaunch } from "../agent-launch.js";

export interface AgentChildOptions {
  cliPath: string;
  configPath: string;
  env: NodeJS.ProcessEnv;
  logLevel?: string | undefined;
  logger: Logger;
  /** Called each time an agent process reports it is running (again after a restart). */
  onReady: (msg: AgentReadyMessage) => void;
  /** Called when the agent exits before it ever became ready: a config or start-up problem, not a crash. */
  onStartFailure: (code: number | null) => void;
}

/**
 * The agent as a child process of the simulator mode, so that killing it (kill -9 included) leaves the
 * plant and the broker running; it is restarted with a growing delay. It runs in its own process group:
 * Ctrl-C in the terminal reaches only the simulator mode, which then stops the agent exactly once.
 */
export class AgentChild {
  private child: ChildProcess | null = null;
  private stopping = false;
  private everReady = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: AgentChildOptions) {}

  start(): void {
    const o = this.options;
    const launch = agentLaunch(o.cliPath, ["--config", o.configPath, ...(o.logLevel ? ["--log-level", o.logLevel] : [])], o.env);
    const child = spawn(launch.command, launch.args, {
      env: launch.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      detached: true,
    });
    this.child = child;
    const startedAt = Date.now();
    child.on("message", (msg: unknown) => {
      if (msg && typeof msg === "object" && (msg as { type?: unknown }).type === "ready") {
        this.everReady = true;
        o.onReady(msg as AgentReadyMessage);
      }
    });
    child.on("exit", (code, signal) => {
      this.child = null;
      if (this.stopping) return;
      if (!this.everReady) {
        o.onStartFailure(code);
        return;
      }
      // A crash loop backs off; an agent that ran for a minute starts again quickly.
      if (Date.now() - startedAt > 60_000) this.restarts = 0;
      const delay = Math.min(30_000, 1000 * 2 ** this.restarts++);
      o.logger.warn({ code, signal, restartInMs: delay }, "agent process exited; the plant and broker keep running, restarting it");
      this.restartTimer = setTimeout(() => this.start(), delay);
    });
  }

  pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGTERM, then SIGKILL if the agent has not finished its clean stop in time. */
  async stop(timeoutMs = 15_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => {
      this.options.logger.warn("agent did not stop in time; killing it");
      child.kill("SIGKILL");
    }, timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}
