import { z } from "zod";
import { identifier } from "../schema-kit.js";
import { durationSchema } from "./duration.js";
import { provideRuleSchemas } from "./schema-loader.js";

/**
 * The rules section of the configuration (and the body the API accepts): virtual points and rules.
 * Expressions are plain strings here; the engine compiles them against the known points when the set
 * is loaded, so an error in one names the rule, the field and the column.
 */

const DAY = 86_400_000;

export const severitySchema = z
  .enum(["critical", "major", "minor", "warning", "info"])
  .describe("How urgent an alarm or event is, most urgent first.");
export type Severity = z.output<typeof severitySchema>;

const onSchema = z
  .enum(["raise", "clear", "active"])
  .default("raise")
  .describe("When the action runs: raise = once when the rule becomes active, clear = once when it clears, active = on every evaluation while active.");

/** A value to write or set: an expression text, or a literal number or boolean. */
const valueSchema = z
  .union([z.number(), z.boolean(), z.string().min(1)])
  .describe('An expression ("sp.max - 2", "if(level > 90, 0, 1)") or a literal number or boolean. A string literal is quoted inside: \'"auto"\'.');

const templateSchema = z
  .string()
  .max(1000)
  .describe('Text with {expression} placeholders filled at the moment of the action: "bearing at {round(bearing.temp, 1)} °C". {{ and }} are literal braces.');

export const alarmActionSchema = z
  .strictObject({
    type: z.literal("alarm").describe("Raise and clear an alarm."),
    severity: severitySchema.default("major"),
    message: templateSchema.optional().describe("Alarm text; default: the rule's description or id."),
  })
  .describe("Raises an alarm when the rule becomes active and clears it when the rule clears (one alarm per rule).");

export const writeActionSchema = z
  .strictObject({
    type: z.literal("write").describe("Write a device point."),
    point: identifier("a point id").describe("The device point to write; it must be writable."),
    value: valueSchema,
    min: z.number().optional().describe("Lowest value this action writes (besides the point's writeMin): lower values are clamped."),
    max: z.number().optional().describe("Highest value this action writes (besides the point's writeMax): higher values are clamped."),
    on: onSchema,
  })
  .describe("Writes a device point (a setpoint, a start/stop bit); numeric values are clamped to the limits and writes are spaced by the rule's minInterval.");

export const setActionSchema = z
  .strictObject({
    type: z.literal("set").describe("Set a virtual point."),
    point: identifier("a virtual point id").describe("A virtual point declared under virtualPoints."),
    value: valueSchema,
    on: onSchema,
  })
  .describe("Sets a virtual point: a sample that is stored and sent like any reading, and that other rules can read.");

export const eventActionSchema = z
  .strictObject({
    type: z.literal("event").describe("Publish an event."),
    name: identifier("an event name").optional().describe("Event name for consumers; default: the rule id."),
    severity: severitySchema.default("info"),
    message: templateSchema.optional(),
    on: onSchema,
  })
  .describe("Publishes an event on the events topic.");

export const actionSchema = z.discriminatedUnion("type", [alarmActionSchema, writeActionSchema, setActionSchema, eventActionSchema]);
export type RuleAction = z.output<typeof actionSchema>;

export const ruleSchema = z
  .strictObject({
    id: identifier("a rule id").describe("Rule id, unique among the rules; it names the rule in alarms, events, the API and errors."),
    description: z.string().max(500).optional().describe("What the rule is for, in plain words."),
    enabled: z.boolean().default(true).describe("A disabled rule is compiled (so errors show) but never evaluated."),
    when: z.string().min(1).describe("Condition that makes the rule active (see edge/rules/README.md for the language)."),
    clear: z
      .string()
      .min(1)
      .optional()
      .describe("Separate condition that clears an active rule (hysteresis). Default: the rule clears when `when` is false."),
    for: durationSchema(0, DAY).optional().describe('How long `when` must hold before the rule becomes active ("10s", or ms).'),
    clearFor: durationSchema(0, DAY).optional().describe("How long the clear condition must hold before an active rule clears."),
    onUnknown: z
      .enum(["hold", "false", "true"])
      .default("hold")
      .describe(
        "What an Unknown condition (bad, missing or stale input) does: hold = keep the current state and restart any for/clearFor timer; false = treat it as false (an active rule clears); true = treat it as true (fail-safe trips raise).",
      ),
    staleAfter: durationSchema(1, 7 * DAY).optional().describe("An input whose last sample is older than this reads as Unknown."),
    minInterval: durationSchema(0, DAY).default(0).describe("Least time between two writes of this rule to the same point; a write due earlier waits (the latest value wins)."),
    actions: z.array(actionSchema).max(16).default([]).describe("What the rule does when it raises, clears or while it is active."),
  })
  .describe("A local rule: a condition over points, its timing, and its actions.");

export type RuleConfig = z.output<typeof ruleSchema>;
export type RuleInput = z.input<typeof ruleSchema>;

/** The `rules` list of the configuration: rule ids must be unique. */
export const rulesConfigSchema = z
  .array(ruleSchema)
  .max(10_000)
  .superRefine((rules, ctx) => {
    const seen = new Map<string, number>();
    rules.forEach((r, i) => {
      const prev = seen.get(r.id);
      if (prev !== undefined) ctx.addIssue({ code: "custom", path: [i, "id"], message: `duplicate rule id "${r.id}" (also rules[${prev}])` });
      seen.set(r.id, i);
    });
  })
  .describe("Local rules evaluated on the gateway.");

export const virtualPointSchema = z
  .strictObject({
    id: identifier("a point id").describe("Point id, unique across device and virtual points."),
    name: z.string().optional().describe("Human-readable name shown in the API."),
    unit: z.string().optional().describe("Engineering unit of the values rules set."),
    description: z.string().optional().describe("What the point means."),
  })
  .describe("A point computed by rules (set actions) instead of read from a device.");
export type VirtualPointConfig = z.output<typeof virtualPointSchema>;

export const virtualPointsSchema = z.array(virtualPointSchema).max(10_000).describe("Points set by rules.");

/** Everything RuleEngine.load() takes: the two config sections together. */
export const ruleSetSchema = z.strictObject({
  virtualPoints: virtualPointsSchema.default([]),
  rules: rulesConfigSchema.default([]),
});
export type RuleSet = z.output<typeof ruleSetSchema>;
export type RuleSetInput = z.input<typeof ruleSetSchema>;

// Registers the schemas with the zod-free loader the engine and the rules service use (see
// schema-loader.ts: zod stays out of the agent's main thread until a rule needs validating).
provideRuleSchemas({ ruleSchema, ruleSetSchema });
