/**
 * The simulated plant: one UnitMemory per unit id in the profile, plus the signals that keep writing
 * into it. Separate from the socket code so tests can drive it with an injected time.
 */
import { decodeValue, encodeValue, type SimValue } from "./encoding.js";
import { isRegisterTable, UnitMemory, type Table } from "./memory.js";
import { signalWidth, type ResolvedModbusProfile, type ResolvedSignalDefinition } from "./profile.js";
import { createGenerator, type Generator } from "./signals.js";

interface BoundSignal {
  readonly def: ResolvedSignalDefinition;
  readonly width: number;
  readonly generate: Generator;
  /** Set by a client write to a writable signal; from then on it replaces the generator. */
  override: SimValue | undefined;
}

interface Unit {
  readonly memory: UnitMemory;
  readonly signals: BoundSignal[];
}

export class SimulatedDevice {
  private readonly units = new Map<number, Unit>();

  constructor(profile: ResolvedModbusProfile) {
    for (const unit of profile.units) {
      this.units.set(unit.unit, {
        memory: new UnitMemory(),
        signals: unit.signals.map((def) => ({
          def,
          width: signalWidth(def),
          generate: createGenerator(def.signal),
          override: undefined,
        })),
      });
    }
  }

  unitIds(): number[] {
    return [...this.units.keys()];
  }

  /** Whether the profile defines this unit id. */
  has(unitId: number): boolean {
    return this.units.has(unitId);
  }

  /** The memory of a unit id, or undefined when the profile doesn't define it. */
  memory(unitId: number): UnitMemory | undefined {
    return this.units.get(unitId)?.memory;
  }

  /**
   * Writes every signal's value for this instant. All of it runs synchronously, and requests are
   * served on the same thread, so a reader never sees half of a multi-register value.
   */
  refresh(elapsedS: number): void {
    for (const unit of this.units.values()) {
      for (const sig of unit.signals) {
        const value = sig.override ?? sig.generate(elapsedS);
        const { table, address, type, byteOrder } = sig.def;
        if (table === "coil" || table === "discrete") unit.memory.writeBits(table, address, [toBool(value)]);
        else if (type !== "bool") unit.memory.writeWords(table, address, encodeValue(type, byteOrder, value, sig.width));
      }
    }
  }

  /**
   * Called after a client wrote table[address..address+count). A writable signal touched by the
   * write takes the value now in memory (a partial write of a float combines old and new words,
   * as on a real PLC); other signals are simply overwritten again on the next refresh.
   */
  clientWrote(unitId: number, table: Table, address: number, count: number): void {
    const unit = this.units.get(unitId);
    if (unit === undefined) return;
    for (const sig of unit.signals) {
      const { def } = sig;
      if (!def.writable || def.table !== table) continue;
      if (def.address + sig.width <= address || address + count <= def.address) continue;
      if (isRegisterTable(table)) {
        if (def.type !== "bool") sig.override = decodeValue(def.type, def.byteOrder, unit.memory.readWords(table, def.address, sig.width));
      } else {
        sig.override = unit.memory.readBits(table, def.address, 1)[0] ?? false;
      }
    }
  }
}

function toBool(value: SimValue): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") return value !== "" && value !== "0" && value.toLowerCase() !== "false";
  return Number(value) !== 0;
}
