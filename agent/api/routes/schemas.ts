import { z } from "zod";
import { severitySchema } from "../../../edge/rules/schema.js";
import { LOG_LEVELS } from "../../log.js";

/**
 * Request bodies and queries of the API routes. The routes import this module on the first request
 * that needs one (a dynamic import, cached by the module loader after that): zod costs ~12 MB resident
 * in the agent process, and an agent whose API is never written to should not pay for it.
 */

/** GET /alarms */
export const alarmsQuery = z.strictObject({
  state: z.enum(["active", "all"]).default("active"),
  rule: z.string().min(1).optional(),
  severity: severitySchema.optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(500),
});

/** POST /alarms/:id/ack */
export const ackBody = z.strictObject({ by: z.string().min(1).max(200).optional() });

/** POST /points/:id/write */
export const writeBody = z.strictObject({ value: z.union([z.number(), z.boolean(), z.string()]) });

/** PUT /log-level */
export const levelBody = z.strictObject({ level: z.enum(LOG_LEVELS) });

/** POST /rules/reload */
export const reloadBody = z.strictObject({});
