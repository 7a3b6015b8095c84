import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../agent/paths.js";
import { publishedSchemas, renderSchema } from "./schemas.js";

for (const entry of publishedSchemas) {
  writeFileSync(join(packageRoot(), entry.file), renderSchema(entry));
  process.stdout.write(`wrote ${entry.file}\n`);
}
