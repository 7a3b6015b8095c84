/**
 * Fault injection: what a flaky device, a noisy line or a bad gateway does to a Modbus client. The
 * faults are plain data (a `faults:` section in a profile, an option, `PUT /faults` on the control
 * endpoint), one set for every unit id plus optional per-unit overrides:
 *
 *   faults:
 *     latencyMs: 20                  # every unit: 20 ms before each reply
 *     seed: 7                        # for dropRate / resetRate / corruptCrc draws
 *     units:
 *       "2": { dropRate: 0.5 }       # unit 2 also loses half its replies
 *
 * A unit's effective faults are the top-level fields with its own fields on top (field by field).
 * Randomness comes from a seeded PRNG, so the same requests in the same order meet the same faults.
 */
import { z } from "zod";
import { EdgeError } from "../../edge/errors.js";
import { FunctionCode } from "./pdu.js";
import { mulberry32 } from "./signals.js";

const rate = z.number().min(0).max(1);

export const faultSpecSchema = z.strictObject({
  /** Added before each reply (normal or exception), in milliseconds. */
  latencyMs: z.number().min(0).max(60_000).optional(),
  /** Probability 0..1 that a request is read and never answered (the client times out). */
  dropRate: rate.optional(),
  /** Answer with this exception code instead of executing, for the listed function codes / addresses (all when omitted). */
  exception: z
    .strictObject({
      code: z.number().int().min(1).max(255),
      functions: z.array(z.number().int().min(1).max(127)).min(1).optional(),
      /** Matches a request whose address range contains any of these addresses. */
      addresses: z.array(z.number().int().min(0).max(0xffff)).min(1).optional(),
    })
    .optional(),
  /** true (every reply) or a probability 0..1: RTU sends a wrong CRC; TCP sends the PDU one byte short. */
  corruptCrc: z.union([z.boolean(), rate]).optional(),
  /** Probability 0..1 that the TCP connection is reset instead of answered. */
  resetRate: rate.optional(),
  /** Reset the connection on the next N requests instead of answering them (counts down). */
  resetNext: z.number().int().min(0).optional(),
});

const UNIT_KEY = /^(0|[1-9]\d{0,2})$/;

export const faultsSchema = faultSpecSchema
  .extend({
    /** Seed of the PRNG behind dropRate, resetRate and a fractional corruptCrc. Default 1. */
    seed: z.number().int().optional(),
    /** Per-unit overrides, keyed by unit id ("2": {...}). */
    units: z.record(z.string(), faultSpecSchema).optional(),
  })
  .superRefine((faults, ctx) => {
    for (const key of Object.keys(faults.units ?? {})) {
      if (!UNIT_KEY.test(key) || Number(key) > 255) ctx.addIssue({ code: "custom", path: ["units", key], message: `unit id must be 0..255, got "${key}"` });
    }
  });

/** Faults as written by a user or sent to `PUT /faults`. */
export type ModbusFaults = z.input<typeof faultsSchema>;
export type ModbusFaultSpec = z.input<typeof faultSpecSchema>;
type Spec = z.output<typeof faultSpecSchema>;
type Resolved = z.output<typeof faultsSchema>;

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  return out === "" ? "(root)" : out;
}

/** Validates faults; the error names every bad field, e.g. `units.2.dropRate`. */
export function parseModbusFaults(input: unknown): Resolved {
  const result = faultsSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${formatPath(issue.path)}: ${issue.message}`);
  throw new EdgeError("SIM_FAULTS_INVALID", `invalid Modbus simulator faults:\n${lines.join("\n")}`);
}

/** What to do with one request. */
export type FaultDecision =
  | { action: "reset" }
  | { action: "drop" }
  | { action: "exception"; code: number; latencyMs: number }
  | { action: "serve"; corrupt: boolean; latencyMs: number };

/** The address range a request touches, when its function code has one. */
function requestRange(pdu: Buffer): { from: number; count: number } | undefined {
  const fc = pdu[0] ?? 0;
  if (pdu.length < 3) return undefined;
  const from = pdu.readUInt16BE(1);
  if (fc === FunctionCode.WriteSingleCoil || fc === FunctionCode.WriteSingleRegister) return { from, count: 1 };
  const known: number[] = [FunctionCode.ReadCoils, FunctionCode.ReadDiscreteInputs, FunctionCode.ReadHoldingRegisters, FunctionCode.ReadInputRegisters, FunctionCode.WriteMultipleCoils, FunctionCode.WriteMultipleRegisters];
  if (!known.includes(fc) || pdu.length < 5) return undefined;
  return { from, count: pdu.readUInt16BE(3) };
}

function exceptionMatches(exception: NonNullable<Spec["exception"]>, pdu: Buffer): boolean {
  const fc = pdu[0] ?? 0;
  if (exception.functions !== undefined && !exception.functions.includes(fc)) return false;
  if (exception.addresses === undefined) return true;
  const range = requestRange(pdu);
  return range !== undefined && exception.addresses.some((a) => a >= range.from && a < range.from + range.count);
}

/** Whether a fault spec can do anything to a request (the seed alone, or zeros, cannot). */
function active(spec: Spec): boolean {
  return (
    (spec.latencyMs ?? 0) > 0 ||
    (spec.dropRate ?? 0) > 0 ||
    spec.exception !== undefined ||
    (spec.corruptCrc !== undefined && spec.corruptCrc !== false && spec.corruptCrc !== 0) ||
    (spec.resetRate ?? 0) > 0 ||
    (spec.resetNext ?? 0) > 0
  );
}

/** The decision when no fault is in force: one shared object, so a fault-free request allocates nothing here. */
const SERVE: FaultDecision = Object.freeze({ action: "serve", corrupt: false, latencyMs: 0 });

/** Holds the current faults and decides, request by request, which one strikes. */
export class FaultInjector {
  private faults: Resolved = {};
  private rng: () => number = mulberry32(1);
  /** No fault can strike: decide() answers SERVE at once (and draws nothing from the PRNG, as before). */
  private inert = true;

  constructor(initial?: unknown) {
    this.set(initial);
  }

  /** Replaces every fault (validated; throws SIM_FAULTS_INVALID and keeps the old ones on a bad input). */
  set(input: unknown): void {
    const parsed = parseModbusFaults(input);
    this.faults = structuredClone(parsed);
    this.rng = mulberry32(parsed.seed ?? 1);
    this.inert = this.computeInert();
  }

  private computeInert(): boolean {
    return !active(this.faults) && !Object.values(this.faults.units ?? {}).some(active);
  }

  clear(): void {
    this.set({});
  }

  /** The faults in force now; `resetNext` shows how many resets are left. */
  current(): Resolved {
    return structuredClone(this.faults);
  }

  private chance(p: number | boolean | undefined): boolean {
    if (p === undefined || p === false || p === 0) return false;
    if (p === true || p >= 1) return true;
    return this.rng() < p;
  }

  /** Consumes one of the "reset the next N" budget: the unit's own if it set one, else the shared one. */
  private takeReset(unit: number): boolean {
    const own = this.faults.units?.[String(unit)];
    const scope = own?.resetNext !== undefined ? own : this.faults;
    if ((scope.resetNext ?? 0) <= 0) return false;
    scope.resetNext = (scope.resetNext ?? 0) - 1;
    if (scope.resetNext === 0) this.inert = this.computeInert();
    return true;
  }

  decide(unit: number, pdu: Buffer): FaultDecision {
    if (this.inert) return SERVE;
    const own = this.faults.units?.[String(unit)] ?? {};
    const f: Spec = { ...this.faults, ...own };
    if (this.takeReset(unit) || this.chance(f.resetRate)) return { action: "reset" };
    if (this.chance(f.dropRate)) return { action: "drop" };
    const latencyMs = f.latencyMs ?? 0;
    if (f.exception !== undefined && exceptionMatches(f.exception, pdu)) return { action: "exception", code: f.exception.code, latencyMs };
    return { action: "serve", corrupt: this.chance(f.corruptCrc), latencyMs };
  }
}
