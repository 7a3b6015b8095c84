/**
 * The simulated factory as data: one line with an oven, a press and a filler. Each variable has a
 * NodeId in the simulator's namespace (ns=1), a browse path under /1:Factory/1:Line1, an OPC UA type
 * and a deterministic signal of the time since the simulator started (the Modbus simulator's
 * generators), so tests and demos see the same values every run. The table in README.md lists them.
 */
import type { SignalSpec } from "../modbus/signals.js";

export type SimDataType = "Boolean" | "Int32" | "UInt32" | "UInt64" | "Float" | "Double" | "String";

export interface FactoryVariable {
  /** Machine.Name under Line1, e.g. Oven1.Temperature; the key faults and `value()` use is `Line1.<key>`. */
  machine: string;
  name: string;
  /** The identifier part of the NodeId (ns=1 is the simulator's namespace). */
  nodeId: string;
  dataType: SimDataType;
  /** A generated value; absent for a plain stored value (writable setpoints). */
  signal?: SignalSpec;
  initial?: number | boolean | string | bigint;
  writable?: boolean;
  /** An AnalogItem with this EURange (percent deadbands need it) and unit. */
  analog?: { low: number; high: number; unit: string };
  description: string;
}

const GUID_FILL_LEVEL = "0e2bc1f4-6d7a-4b8c-9f10-3a5e7c9d1b22";
/** base64 of "filler-bottles". */
const OPAQUE_BOTTLES = "ZmlsbGVyLWJvdHRsZXM=";

export const factoryVariables: readonly FactoryVariable[] = [
  { machine: "Oven1", name: "Temperature", nodeId: "s=Line1.Oven1.Temperature", dataType: "Double", signal: { kind: "sine", min: 180, max: 220, periodS: 60, phaseS: 0 }, analog: { low: 0, high: 300, unit: "°C" }, description: "°C, sine 180..220 over 60 s (starts at 200, rising)" },
  { machine: "Oven1", name: "Setpoint", nodeId: "s=Line1.Oven1.Setpoint", dataType: "Double", initial: 200, writable: true, analog: { low: 0, high: 300, unit: "°C" }, description: "°C, writable, 200 until written" },
  { machine: "Oven1", name: "HeaterOn", nodeId: "s=Line1.Oven1.HeaterOn", dataType: "Boolean", signal: { kind: "state", values: [1, 0], everyS: 5 }, description: "toggles every 5 s (on first)" },
  { machine: "Press1", name: "Pressure", nodeId: "i=1001", dataType: "Double", signal: { kind: "randomWalk", min: 100, max: 200, step: 5, seed: 7, everyS: 0.5 }, analog: { low: 0, high: 250, unit: "bar" }, description: "bar, random walk 100..200, steps ≤ 5 every 0.5 s (numeric NodeId)" },
  { machine: "Press1", name: "Vibration", nodeId: "s=Line1.Press1.Vibration", dataType: "Double", signal: { kind: "sine", min: 2, max: 6, periodS: 3, phaseS: 0 }, analog: { low: 0, high: 20, unit: "mm/s" }, description: "mm/s, sine 2..6 over 3 s" },
  { machine: "Press1", name: "MotorRunning", nodeId: "s=Line1.Press1.MotorRunning", dataType: "Boolean", signal: { kind: "state", values: [1, 1, 1, 0], everyS: 2 }, description: "running 6 s, stopped 2 s" },
  { machine: "Press1", name: "MotorSpeed", nodeId: "s=Line1.Press1.MotorSpeed", dataType: "Float", signal: { kind: "sine", min: 1400, max: 1500, periodS: 20, phaseS: 0 }, description: "rpm, sine 1400..1500 over 20 s" },
  { machine: "Press1", name: "StrokeCount", nodeId: "s=Line1.Press1.StrokeCount", dataType: "UInt32", signal: { kind: "counter", start: 0, step: 1, perS: 1 }, description: "strokes, +1 per second; ResetStrokeCount() sets it back to 0" },
  { machine: "Filler1", name: "FillLevel", nodeId: `g=${GUID_FILL_LEVEL}`, dataType: "Float", signal: { kind: "ramp", min: 0, max: 100, periodS: 10 }, analog: { low: 0, high: 100, unit: "%" }, description: "%, sawtooth 0..100 over 10 s (GUID NodeId)" },
  { machine: "Filler1", name: "BottleCount", nodeId: `b=${OPAQUE_BOTTLES}`, dataType: "UInt64", signal: { kind: "counter", start: 9007199254740993n, step: 2, perS: 1 }, description: "UInt64 from 2^53+1, +2 per second (opaque NodeId): exact only as a decimal string" },
  { machine: "Filler1", name: "Recipe", nodeId: "s=Line1.Filler1.Recipe", dataType: "String", initial: "Cola-330", writable: true, description: "writable string, Cola-330 until written (StartBatch sets it too)" },
  { machine: "Filler1", name: "State", nodeId: "s=Line1.Filler1.State", dataType: "String", signal: { kind: "state", values: ["Idle", "Filling", "Capping", "Labeling"], everyS: 1 }, description: "Idle, Filling, Capping, Labeling: one a second" },
];

export const factoryIds = {
  namespaceUri: "urn:edge-agent:opcua-simulator",
  guidFillLevel: GUID_FILL_LEVEL,
  opaqueBottles: OPAQUE_BOTTLES,
} as const;

/** The key of a factory variable: Line1.Oven1.Temperature. */
export function variableKey(v: Pick<FactoryVariable, "machine" | "name">): string {
  return `Line1.${v.machine}.${v.name}`;
}
