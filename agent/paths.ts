import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

let root: string | undefined;

/**
 * The folder holding package.json, found by walking up from this file: the same answer whether the
 * code runs from the source tree, from dist/ or from an installed release.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
  root = dir;
  return dir;
}

/** The shipped example configuration used by the simulator mode. */
export function simulatorConfigPath(): string {
  return join(packageRoot(), "agent", "config", "examples", "simulator.yaml");
}
