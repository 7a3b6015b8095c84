import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { opcuaDeviceSchema } from "../../../edge/drivers/opcua/config.js";
import { OpcuaDriver } from "../../../edge/drivers/opcua/driver.js";
import { SharedResources } from "../../../edge/drivers/shared.js";
import type { Sample } from "../../../edge/model.js";
import { testLogger } from "../../helpers/logger.js";

/** A temp folder removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Collects what a driver hands its sink. */
export function collector() {
  const batches: Sample[][] = [];
  return {
    batches,
    sink: (s: Sample[]) => {
      batches.push(s);
    },
    all: () => batches.flat(),
    of: (point: string) => batches.flat().filter((s) => s.point === point),
    clear: () => {
      batches.length = 0;
    },
  };
}

export function makeDriver(config: Record<string, unknown>, dataDir: string): OpcuaDriver {
  const parsed = opcuaDeviceSchema.parse({ protocol: "opcua", id: "opc", ...config });
  return new OpcuaDriver(parsed, { logger: testLogger(), clock: Date.now, shared: new SharedResources(), dataDir });
}

export const fast = { subscription: { publishingIntervalMs: 100, samplingIntervalMs: 100, keepAliveCount: 10 }, timeoutMs: 3000 };
