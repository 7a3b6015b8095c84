import { readFileSync } from "node:fs";
import { packageRoot } from "./paths.js";

/** The agent's version, from package.json (the single place it is set). */
export const VERSION: string = (
  JSON.parse(readFileSync(`${packageRoot()}/package.json`, "utf8")) as { version: string }
).version;
