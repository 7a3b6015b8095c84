import { z } from "zod";

/**
 * Payloads of the fleet commands (`{root}/cmd/{name}`), the single source for the handlers' checks
 * and for agent/commands/commands.schema.json. Every request may carry an `id`, echoed in the reply.
 */
const requestId = z.union([z.string().max(200), z.number()]).optional().describe("Echoed in the reply, to match answers without MQTT 5 correlation data.");

export const writeCommandSchema = z
  .strictObject({
    id: requestId,
    point: z.string().min(1).describe("A point marked writable in the config."),
    value: z.union([z.number(), z.boolean(), z.string()]).describe("In engineering units; checked against writeMin/writeMax."),
  })
  .describe("cmd/write: writes a setpoint through the same checks as the local API.");

export const ackCommandSchema = z
  .strictObject({
    id: requestId,
    alarmId: z.number().int().positive().describe("The alarm's id (in alarm records and GET /alarms)."),
    by: z.string().max(200).optional().describe("Who acknowledges, kept with the alarm. Default: fleet."),
  })
  .describe("cmd/ack: acknowledges an alarm.");

export const reloadRulesCommandSchema = z
  .strictObject({ id: requestId })
  .describe("cmd/reload-rules: re-reads the rules of the agent's config file; an invalid set is refused as a whole and the running rules stay.");

export const commandReplySchema = z
  .union([
    z.looseObject({ ok: z.literal(true), id: requestId }).describe("Done; the command's result fields beside ok (write: point, value, raw; ack: alarm; reload-rules: rules, virtualPoints)."),
    z
      .strictObject({
        ok: z.literal(false),
        id: requestId,
        error: z.strictObject({
          code: z.string().describe("Stable: invalid_json, invalid_payload, unknown_command, point_unknown, point_read_only, write_range, device_offline, alarm_unknown, alarm_state, rules_invalid, ..."),
          message: z.string(),
          problems: z.array(z.string()).optional().describe("rules_invalid: every problem of the refused set."),
        }),
      })
      .describe("Refused; nothing was changed."),
  ])
  .describe("The reply on {root}/cmd/{name}/reply, or on the MQTT 5 response topic with the request's correlation data.");

/** Everything in one document for the published JSON Schema. */
export const commandsSchema = z
  .strictObject({
    write: writeCommandSchema,
    ack: ackCommandSchema,
    "reload-rules": reloadRulesCommandSchema,
    reply: commandReplySchema,
  })
  .describe("edge-agent fleet commands: request payload per command name, and the reply.");
