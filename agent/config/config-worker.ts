import { parentPort, workerData } from "node:worker_threads";
import { loadConfig } from "./load.js";
import { ConfigError } from "./errors.js";

/**
 * Runs loadConfig in a worker thread (see loadConfigIsolated): parsing a large YAML file briefly
 * needs tens of MB, and a worker's heap is returned to the system when it exits.
 */
const { file } = workerData as { file: string };
try {
  parentPort?.postMessage({ ok: true, config: loadConfig(file) });
} catch (err) {
  if (err instanceof ConfigError) parentPort?.postMessage({ ok: false, file: err.file, problems: err.problems });
  else parentPort?.postMessage({ ok: false, file, problems: [{ path: "", message: err instanceof Error ? err.message : String(err) }] });
}
