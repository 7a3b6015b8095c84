import { z } from "zod";
import { identifier } from "../schema-kit.js";

/**
 * The fields every point has, whatever protocol reads it. A driver extends this with its own address
 * fields (register, NodeId, ...); the pipeline uses these to scale and filter values.
 */
export const pointBaseSchema = z.object({
  id: identifier("a point id").describe(
    "Point id, unique across the whole configuration; it names the point in samples, topics, rules and the API.",
  ),
  name: z.string().optional().describe("Human-readable name shown in the API and dashboard."),
  unit: z.string().optional().describe("Engineering unit after scaling, e.g. °C, bar, rpm."),
  scale: z.number().default(1).describe("Multiplier applied to the raw numeric value: value = raw * scale + offset."),
  offset: z.number().default(0).describe("Added after scaling: value = raw * scale + offset."),
  deadband: z
    .number()
    .min(0)
    .default(0)
    .describe(
      "Report by exception: a good numeric value is stored only when it differs from the last stored one by more than this (in engineering units). 0 stores every reading.",
    ),
  writable: z
    .boolean()
    .default(false)
    .describe("Whether rules, the local API and fleet commands may write this point. Read-only by default."),
  writeMin: z.number().optional().describe("Lowest value a write may set, in engineering units; lower writes are refused."),
  writeMax: z.number().optional().describe("Highest value a write may set, in engineering units; higher writes are refused."),
});

export type PointBaseConfig = z.output<typeof pointBaseSchema>;
