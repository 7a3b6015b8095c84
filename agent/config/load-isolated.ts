import { Worker } from "node:worker_threads";
import type { AgentConfig } from "./schema.js";
import { ConfigError, type ConfigProblem } from "./errors.js";

type WorkerReply = { ok: true; config: AgentConfig } | { ok: false; file: string; problems: ConfigProblem[] };

/**
 * loadConfig, run in a short-lived worker thread. A gateway with 10,000 points has a YAML file of a
 * megabyte or more, and parsing it peaks at ~100 MB of heap that V8 would otherwise keep committed
 * for the life of the agent; in a worker that memory goes back to the system when the worker exits.
 * The worker sees the same environment, so ${VAR} references resolve as in the main thread.
 */
export function loadConfigIsolated(file: string): Promise<AgentConfig> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./config-worker.js", import.meta.url), { workerData: { file } });
    let settled = false;
    worker.once("message", (reply: WorkerReply) => {
      settled = true;
      if (reply.ok) resolve(reply.config);
      else reject(new ConfigError(reply.file, reply.problems));
    });
    worker.once("error", (err) => {
      settled = true;
      reject(err);
    });
    worker.once("exit", (code) => {
      if (!settled) reject(new Error(`the config loader stopped with exit code ${code} before answering`));
    });
  });
}
