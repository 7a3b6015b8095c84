import type { z } from "zod";
import { EdgeError } from "../../edge/errors.js";
// engine-core.js, not index.js: the index brings the rule schemas and zod (~12 MB resident).
import { RuleSetError } from "../../edge/rules/engine-core.js";
import type { SampleValue } from "../../edge/model.js";
import type { WriteResult } from "../../edge/pipeline/point-writer.js";
import type { CommandChannel } from "../../edge/uplink/commands.js";
import type { RulesService } from "../rules/service.js";

// The payload schemas (zod, ~12 MB resident once loaded) are imported with the first command: most
// agents run for weeks without one. The module loader caches the import after that.
const schemas = () => import("./schemas.js");

export interface CommandTargets {
  writePoint: (id: string, value: SampleValue) => Promise<WriteResult>;
  rules: Pick<RulesService, "acknowledge" | "reloadConfig">;
}

/** Registers write, ack and reload-rules on the channel; each validates its payload first. */
export function registerCommands(channel: CommandChannel, t: CommandTargets): void {
  channel
    .on("write", async (payload) => {
      const { point, value } = parse((await schemas()).writeCommandSchema, payload);
      return { ...(await t.writePoint(point, value)) };
    })
    .on("ack", async (payload) => {
      const { alarmId, by } = parse((await schemas()).ackCommandSchema, payload);
      return { alarm: t.rules.acknowledge(alarmId, by ?? "fleet") };
    })
    .on("reload-rules", async (payload) => {
      parse((await schemas()).reloadRulesCommandSchema, payload);
      return t.rules.reloadConfig();
    });
}

/** Rule set problems travel in the reply, one per line, like the local API's 400. */
export function describeCommandError(err: unknown): { code: string; message: string; problems?: string[] } | null {
  if (err instanceof RuleSetError) return { code: "rules_invalid", message: err.message, problems: [...err.problems] };
  return null;
}

function parse<T extends z.ZodType>(schema: T, payload: unknown): z.output<T> {
  const r = schema.safeParse(payload);
  if (r.success) return r.data;
  const detail = r.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "payload"}: ${i.message}`).join("; ");
  throw new EdgeError("INVALID_PAYLOAD", `the payload does not fit this command: ${detail}`);
}
