import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CliProcess } from "../helpers/cli.js";

/**
 * zod costs ~12 MB resident in the agent process, so the main thread of a running agent must not load
 * it: the config file is validated in a worker thread, and the schemas the runtime may need (API
 * bodies, fleet commands, rules) are imported on first use. A module resolve hook, registered in each
 * thread (workers inherit --import), reports every import of zod with the thread that made it.
 */
describe("a running agent without rules keeps zod out of its main thread", () => {
  let dir: string;
  let agent: CliProcess | undefined;
  afterEach(async () => {
    await agent?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("only the config worker imports zod", async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-zod-"));
    const hooks = join(dir, "hooks.mjs");
    writeFileSync(
      hooks,
      `let thread = "?";
export async function initialize(data) { thread = data.thread; }
export async function resolve(specifier, context, next) {
  if (specifier === "zod" || specifier.startsWith("zod/")) process.stderr.write("ZOD-IMPORT " + thread + " " + context.parentURL + "\\n");
  return next(specifier, context);
}
`,
    );
    const register = join(dir, "register.mjs");
    writeFileSync(
      register,
      `import { register } from "node:module";
import { isMainThread } from "node:worker_threads";
register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { thread: isMainThread ? "main" : "worker" } });
`,
    );
    const file = join(dir, "agent.yaml");
    writeFileSync(
      file,
      `version: 1
dataDir: ${join(dir, "data")}
log: { level: info }
mqtt: { url: "mqtt://127.0.0.1:1" }
api: { host: 127.0.0.1, port: 0 }
devices:
  - id: plc
    protocol: modbus-tcp
    host: 127.0.0.1
    port: 1
    points: [{ id: plc.r0, register: 0, type: uint16 }]
`,
    );
    agent = new CliProcess(["run", "--config", file], { env: { NODE_OPTIONS: `--import ${pathToFileURL(register).href}` } });
    await agent.waitForLine(/agent running/);
    const imports = agent.stderr.split("\n").filter((l) => l.startsWith("ZOD-IMPORT "));
    // The control: the hook works (the config worker validates with zod).
    expect(imports.some((l) => l.startsWith("ZOD-IMPORT worker "))).toBe(true);
    expect(imports.filter((l) => !l.startsWith("ZOD-IMPORT worker "))).toEqual([]);
  });
});
