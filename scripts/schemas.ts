import { z } from "zod";
import { configSchema } from "../agent/config/schema.js";
import { telemetryBatchSchema } from "../edge/uplink/batch-schema.js";
import { commandsSchema } from "../agent/commands/schemas.js";

/**
 * The JSON Schemas the project publishes, generated from the zod schemas so they cannot drift:
 * `npm run schemas` rewrites them, and a test fails when a committed file is out of date.
 */
export const publishedSchemas: ReadonlyArray<{ file: string; id: string; schema: z.ZodType; io: "input" | "output" }> = [
  // "input": what a user may write (fields with defaults are optional).
  { file: "agent/config/edge-agent.schema.json", id: "edge-agent-config", schema: configSchema, io: "input" },
  { file: "edge/uplink/telemetry.schema.json", id: "edge-agent-telemetry-batch", schema: telemetryBatchSchema, io: "output" },
  { file: "agent/commands/commands.schema.json", id: "edge-agent-commands", schema: commandsSchema, io: "input" },
];

export function renderSchema(entry: (typeof publishedSchemas)[number]): string {
  const json = z.toJSONSchema(entry.schema, { io: entry.io, target: "draft-2020-12", unrepresentable: "any" });
  return JSON.stringify({ $id: entry.id, ...json }, null, 2) + "\n";
}
