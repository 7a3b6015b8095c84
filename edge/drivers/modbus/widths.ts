// Zod-free on purpose: the Modbus codec and read planner run in the agent's main thread, which does not
// load zod (~12 MB resident); config.ts holds the schemas and re-exports these.

/** Register data types and how many 16-bit registers each occupies (string: its `length`). */
export const registerTypeWidths = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
} as const;

export type NumericRegisterType = keyof typeof registerTypeWidths;
export type RegisterType = NumericRegisterType | "string";
export type PointType = RegisterType | "bool";
export type ModbusTable = "coil" | "discrete" | "holding" | "input";

/** How many table entries (registers or bits) a point occupies. */
export function pointWidth(p: { table: ModbusTable; type?: PointType | undefined; length?: number | undefined }): number {
  if (p.table === "coil" || p.table === "discrete" || p.type === "bool" || p.type === undefined) return 1;
  if (p.type === "string") return p.length ?? 1;
  return registerTypeWidths[p.type];
}
