/**
 * Faults the OPC UA simulator can inject, as plain data (an option, or `setFaults` at run time):
 *
 *   latencyMs: 300                                   # every response arrives 300 ms late (slow server / link)
 *   badStatus: { code: BadSensorFailure, nodes: [Line1.Oven1.Temperature] }   # values with a Bad status
 *   uncertainStatus: { code: UncertainLastUsableValue }                       # every variable Uncertain
 *
 * A server restart and a network drop are actions, not states: `restart()` and `dropConnections()`.
 */
import { z } from "zod";
import { EdgeError } from "../../edge/errors.js";

const statusFault = (prefix: "Bad" | "Uncertain") =>
  z.strictObject({
    /** An OPC UA status code name, e.g. BadSensorFailure, BadCommunicationError, UncertainLastUsableValue. */
    code: z.string().regex(new RegExp(`^${prefix}[A-Za-z]+$`), { error: `expected an OPC UA status code name starting with ${prefix}` }),
    /** Variable keys (Line1.Oven1.Temperature) it applies to; all factory variables when omitted. */
    nodes: z.array(z.string().min(1)).min(1).optional(),
  });

export const opcuaFaultsSchema = z.strictObject({
  latencyMs: z.number().min(0).max(60_000).optional(),
  badStatus: statusFault("Bad").optional(),
  uncertainStatus: statusFault("Uncertain").optional(),
});

export type OpcuaFaults = z.input<typeof opcuaFaultsSchema>;
export type ResolvedOpcuaFaults = z.output<typeof opcuaFaultsSchema>;

export function parseOpcuaFaults(input: unknown): ResolvedOpcuaFaults {
  const result = opcuaFaultsSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`);
  throw new EdgeError("SIM_FAULTS_INVALID", `invalid OPC UA simulator faults:\n${lines.join("\n")}`);
}

/** The status code name a variable gets under the current faults, or null for Good. */
export function statusFor(faults: ResolvedOpcuaFaults, key: string): string | null {
  for (const f of [faults.badStatus, faults.uncertainStatus]) {
    if (f && (f.nodes === undefined || f.nodes.includes(key))) return f.code;
  }
  return null;
}
