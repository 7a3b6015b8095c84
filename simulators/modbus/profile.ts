/**
 * Device profiles: which signal lives at which address of which unit id. A profile is plain data, so
 * the same structure comes from TypeScript (`defaultProfile`), a test, or a YAML/JSON file.
 */
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { BYTE_ORDERS, VALUE_TYPES, wordCount, type ValueType } from "./encoding.js";
import { faultsSchema } from "./faults.js";
import { TABLE_SIZE } from "./memory.js";
import type { SignalSpec } from "./signals.js";

/**
 * A number, a boolean or text. Text is kept as written here and converted per signal type below: an
 * integer beyond 2^53 written as a decimal string (YAML/JSON have no bigint) becomes a bigint for a
 * numeric type, and stays text (leading zeros and all) for a `string` signal.
 */
const scalarSchema = z.union([z.number(), z.boolean(), z.bigint(), z.string()]);

const INTEGER_TEXT = /^-?\d+$/;
const NUMBER_TEXT = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

const integerish = z.union([
  z.number(),
  z.bigint(),
  z
    .string()
    .regex(/^-?\d+$/, "expected a number or an integer as a decimal string")
    .transform((s) => BigInt(s)),
]);

const period = z.number().positive();

export const signalSpecSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("sine"), min: z.number(), max: z.number(), periodS: period, phaseS: z.number().default(0) }),
  z.strictObject({ kind: z.literal("ramp"), min: z.number(), max: z.number(), periodS: period }),
  z.strictObject({ kind: z.literal("counter"), start: integerish.default(0), step: z.number().default(1), perS: period.default(1) }),
  z.strictObject({
    kind: z.literal("randomWalk"),
    min: z.number(),
    max: z.number(),
    step: z.number().positive(),
    seed: z.number().int().default(1),
    everyS: period.default(1),
    start: z.number().optional(),
  }),
  z.strictObject({ kind: z.literal("state"), values: z.array(scalarSchema).min(1), everyS: period }),
  z.strictObject({ kind: z.literal("constant"), value: scalarSchema }),
]);

// The generators take the schema's output as is; this line breaks the build if the two drift apart.
const specsAgree: z.output<typeof signalSpecSchema> extends SignalSpec ? true : never = true;
void specsAgree;

/** Longest string: what one request can read (125) and write (123) in full. */
export const MAX_STRING_REGISTERS = 123;

/**
 * Text in a constant/state signal of a numeric type must be a number; integers become bigint so a
 * 64-bit value is never rounded. A `string` signal keeps its text as written.
 */
function numericValue(value: string | number | bigint | boolean, ctx: z.RefinementCtx, path: (string | number)[]): number | bigint | boolean {
  if (typeof value !== "string") return value;
  if (INTEGER_TEXT.test(value)) return BigInt(value);
  if (NUMBER_TEXT.test(value)) return Number(value);
  ctx.addIssue({ code: "custom", path, message: `expected a number, a boolean or an integer as a decimal string, got ${JSON.stringify(value)}` });
  return 0;
}

export const signalDefinitionSchema = z
  .strictObject({
    name: z.string().min(1),
    table: z.enum(["holding", "input", "coil", "discrete"]),
    address: z.number().int().min(0).max(TABLE_SIZE - 1),
    type: z.enum(VALUE_TYPES),
    /** Registers of a `string` (2 ASCII characters each); required for string, refused for the other types. */
    length: z.number().int().min(1).max(MAX_STRING_REGISTERS).optional(),
    /** How a multi-register value is laid out; see encoding.ts. Ignored for bool; 16-bit types and strings only see the byte swap. */
    byteOrder: z.enum(BYTE_ORDERS).default("ABCD"),
    signal: signalSpecSchema,
    /** A client write sticks and replaces the generator (a setpoint). Only holding registers and coils. */
    writable: z.boolean().default(false),
    /** Free text for humans (engineering unit, meaning). */
    description: z.string().optional(),
  })
  .transform((def, ctx) => {
    if (def.type === "string") {
      if (def.length === undefined) ctx.addIssue({ code: "custom", path: ["length"], message: "a string needs length: the number of registers it occupies (2 characters each)" });
      return def;
    }
    if (def.length !== undefined) ctx.addIssue({ code: "custom", path: ["length"], message: `length is only for type string, not ${def.type}` });
    const spec = def.signal;
    if (spec.kind === "constant") return { ...def, signal: { ...spec, value: numericValue(spec.value, ctx, ["signal", "value"]) } };
    if (spec.kind === "state") return { ...def, signal: { ...spec, values: spec.values.map((v, i) => numericValue(v, ctx, ["signal", "values", i])) } };
    return def;
  });

/** Registers (or bits) a signal occupies. */
export function signalWidth(def: { table: string; type: ValueType; length?: number | undefined }): number {
  if (def.table === "coil" || def.table === "discrete" || def.type === "bool") return 1;
  return wordCount(def.type, def.length ?? 1);
}

export const unitSchema = z.strictObject({
  /** Modbus unit id (slave id) 0..255. */
  unit: z.number().int().min(0).max(255),
  signals: z.array(signalDefinitionSchema).default([]),
});

type ResolvedUnitShape = z.output<typeof unitSchema>;

function checkUnits(units: ResolvedUnitShape[], ctx: z.RefinementCtx): void {
  const seenUnits = new Map<number, number>();
  units.forEach((unit, u) => {
    const first = seenUnits.get(unit.unit);
    if (first !== undefined) ctx.addIssue({ code: "custom", path: ["units", u, "unit"], message: `unit id ${unit.unit} is already defined by units[${first}]` });
    else seenUnits.set(unit.unit, u);

    const names = new Set<string>();
    const spans: { table: string; from: number; to: number; name: string }[] = [];
    unit.signals.forEach((sig, s) => {
      const at = (...rest: (string | number)[]): (string | number)[] => ["units", u, "signals", s, ...rest];
      if (names.has(sig.name)) ctx.addIssue({ code: "custom", path: at("name"), message: `name "${sig.name}" is used twice in unit ${unit.unit}` });
      names.add(sig.name);

      const bitTable = sig.table === "coil" || sig.table === "discrete";
      if (bitTable !== (sig.type === "bool")) {
        ctx.addIssue({
          code: "custom",
          path: at("type"),
          message: bitTable ? `a ${sig.table} holds type bool, not ${sig.type}` : `a ${sig.table} register can't hold type bool; use a coil or discrete input`,
        });
      }
      if (sig.writable && (sig.table === "input" || sig.table === "discrete")) {
        ctx.addIssue({ code: "custom", path: at("writable"), message: `${sig.table} tables are read-only in Modbus; only holding registers and coils can be writable` });
      }
      const width = signalWidth(sig);
      if (sig.address + width > TABLE_SIZE) {
        ctx.addIssue({ code: "custom", path: at("address"), message: `${sig.type} at ${sig.address} needs ${width} registers and runs past ${TABLE_SIZE - 1}` });
      }
      const spec = sig.signal;
      if ((spec.kind === "sine" || spec.kind === "ramp" || spec.kind === "randomWalk") && spec.min > spec.max) {
        ctx.addIssue({ code: "custom", path: at("signal", "max"), message: `max ${spec.max} is below min ${spec.min}` });
      }
      const mine = { table: sig.table, from: sig.address, to: sig.address + width - 1, name: sig.name };
      const clash = spans.find((o) => o.table === mine.table && o.from <= mine.to && mine.from <= o.to);
      if (clash) {
        ctx.addIssue({ code: "custom", path: at("address"), message: `${sig.table} ${mine.from}..${mine.to} overlaps "${clash.name}" (${clash.from}..${clash.to})` });
      }
      spans.push(mine);
    });
  });
}

export const modbusProfileSchema = z
  .strictObject({
    units: z.array(unitSchema).min(1),
    /** Faults to inject from the start (see faults.ts); they can be changed at run time. */
    faults: faultsSchema.optional(),
  })
  .superRefine((profile, ctx) => checkUnits(profile.units, ctx));

/** A profile as written by a user (defaults optional, 64-bit integers may be decimal strings). */
export type ModbusProfile = z.input<typeof modbusProfileSchema>;
/** A profile after validation: defaults filled in, big integers as bigint. */
export type ResolvedModbusProfile = z.output<typeof modbusProfileSchema>;
export type ModbusSignalDefinition = z.input<typeof signalDefinitionSchema>;
export type ResolvedSignalDefinition = z.output<typeof signalDefinitionSchema>;

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out === "" ? "(root)" : out;
}

/** Validates a profile; the error lists every problem with its path in the file, e.g. `units[0].signals[2].address`. */
export function parseModbusProfile(input: unknown, source = "profile"): ResolvedModbusProfile {
  const result = modbusProfileSchema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => `  ${formatPath(issue.path)}: ${issue.message}`);
  throw new EdgeError("SIM_PROFILE_INVALID", `invalid Modbus simulator ${source}:\n${lines.join("\n")}`);
}

/** Reads a profile from a YAML or JSON file (YAML 1.2 is a superset of JSON, so one parser does both). */
export async function loadModbusProfile(file: string): Promise<ResolvedModbusProfile> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new EdgeError("SIM_PROFILE_READ", `cannot read Modbus simulator profile ${file}: ${errorMessage(err)}`, { cause: err });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new EdgeError("SIM_PROFILE_INVALID", `Modbus simulator profile ${file} is not valid YAML/JSON: ${errorMessage(err)}`, { cause: err });
  }
  return parseModbusProfile(data, `profile ${file}`);
}

/**
 * The foundation demo device (unit 1). README.md documents this map for users writing an agent
 * config; keep the two in step.
 */
export const defaultProfile: ModbusProfile = {
  units: [
    {
      unit: 1,
      signals: [
        { name: "temperature", table: "holding", address: 0, type: "float32", signal: { kind: "sine", min: 20, max: 80, periodS: 60 }, description: "°C" },
        { name: "counter", table: "holding", address: 2, type: "uint32", signal: { kind: "counter", step: 1, perS: 1 }, description: "parts produced, +1 per second" },
        { name: "motor", table: "holding", address: 4, type: "uint16", signal: { kind: "state", values: [0, 1], everyS: 5 }, description: "0 = stopped, 1 = running; toggles every 5 s" },
        { name: "pressure", table: "holding", address: 5, type: "int16", signal: { kind: "randomWalk", min: 0, max: 100, step: 3, seed: 42, everyS: 1, start: 50 }, description: "tenths of bar (0..100 = 0.0..10.0 bar)" },
        { name: "setpoint", table: "holding", address: 10, type: "uint16", signal: { kind: "constant", value: 50 }, writable: true, description: "writable setpoint, default 50" },
        { name: "flow", table: "input", address: 0, type: "uint16", signal: { kind: "ramp", min: 0, max: 500, periodS: 20 }, description: "l/min, sawtooth 0..500 every 20 s" },
        { name: "voltage", table: "input", address: 2, type: "float32", byteOrder: "CDAB", signal: { kind: "sine", min: 228, max: 232, periodS: 10 }, description: "V, low word first (CDAB)" },
        { name: "energy", table: "input", address: 4, type: "uint64", signal: { kind: "counter", start: "9007199254740993", step: 1, perS: 1 }, description: "Wh, starts at 2^53+1 so a rounding reader shows" },
        { name: "pump", table: "coil", address: 0, type: "bool", signal: { kind: "state", values: [false, true], everyS: 10 }, description: "on/off, toggles every 10 s" },
        { name: "enable", table: "coil", address: 1, type: "bool", signal: { kind: "constant", value: true }, writable: true, description: "writable enable flag, default on" },
        { name: "door", table: "discrete", address: 0, type: "bool", signal: { kind: "state", values: [false, true], everyS: 7 }, description: "door open, toggles every 7 s" },
      ],
    },
  ],
};
