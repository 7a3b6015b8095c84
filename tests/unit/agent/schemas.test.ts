import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { publishedSchemas, renderSchema } from "../../../scripts/schemas.js";
import { REPO } from "../../helpers/cli.js";

describe("published JSON Schemas", () => {
  for (const entry of publishedSchemas) {
    it(`${entry.file} matches the zod schema it is generated from (run npm run schemas)`, () => {
      expect(readFileSync(join(REPO, entry.file), "utf8")).toBe(renderSchema(entry));
    });
  }

  it("documents every config field a user can set", () => {
    const schema = JSON.parse(readFileSync(join(REPO, "agent/config/edge-agent.schema.json"), "utf8")) as Record<string, unknown>;
    const undocumented: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== "object") return;
      const n = node as { properties?: Record<string, unknown>; items?: unknown; anyOf?: unknown[]; oneOf?: unknown[] };
      for (const [key, child] of Object.entries(n.properties ?? {})) {
        if (!(child as { description?: string }).description) undocumented.push(`${path}.${key}`);
        walk(child, `${path}.${key}`);
      }
      if (n.items) walk(n.items, `${path}[]`);
      for (const alt of [...(n.anyOf ?? []), ...(n.oneOf ?? [])]) walk(alt, path);
    };
    walk(schema, "");
    expect(undocumented).toEqual([]);
  });
});
