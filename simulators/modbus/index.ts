/**
 * Modbus TCP device simulator: a server with its own codec (no code shared with the agent's driver),
 * fed by deterministic signals from a data-driven profile.
 *
 *   const sim = await startModbusSimulator({ port: 0 });
 *   // ... point a client at sim.url ...
 *   await sim.stop();
 */
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { SimulatedDevice } from "./device.js";
import type { UnitMemory } from "./memory.js";
import { defaultProfile, parseModbusProfile, type ModbusProfile, type ResolvedModbusProfile } from "./profile.js";
import { startModbusTcpServer, type ServerStats } from "./server.js";

export { defaultProfile, loadModbusProfile, modbusProfileSchema, parseModbusProfile } from "./profile.js";
export type { ModbusProfile, ModbusSignalDefinition, ResolvedModbusProfile, ResolvedSignalDefinition } from "./profile.js";
export type { ByteOrder, SimValue, ValueType } from "./encoding.js";
export type { SignalSpec, SignalKind } from "./signals.js";
export type { ServerStats } from "./server.js";
export { ExceptionCode } from "./pdu.js";
export { TABLE_SIZE } from "./memory.js";

export const DEFAULT_MODBUS_SIM_HOST = "127.0.0.1";
/** The registered Modbus port 502 needs root; 5020 is the customary unprivileged stand-in. */
export const DEFAULT_MODBUS_SIM_PORT = 5020;
export const DEFAULT_TICK_MS = 100;

export interface ModbusSimulatorOptions {
  /** Bind address; default 127.0.0.1 so a laptop demo is not exposed to the network. */
  host?: string;
  /** TCP port; 0 picks a free one (read it back from `port`). Default 5020. */
  port?: number;
  /** Register map; default `defaultProfile`. Validated: an invalid profile throws SIM_PROFILE_INVALID. */
  profile?: ModbusProfile | ResolvedModbusProfile;
  /** How often signals are written into the tables. Default 100 ms. */
  tickMs?: number;
  /** Milliseconds; signals are functions of clock() minus its value at start. Default Date.now. */
  clock?: () => number;
  logger?: Logger;
}

export interface ModbusSimulator {
  readonly host: string;
  readonly port: number;
  /** tcp://host:port (IPv6 hosts in brackets). */
  readonly url: string;
  stats(): ServerStats;
  /** The registers as a client would read them now (throws RangeError for an unknown unit or address). */
  readRegisters(unit: number, table: "holding" | "input", address: number, count: number): number[];
  readBits(unit: number, table: "coil" | "discrete", address: number, count: number): boolean[];
  /** Writes every signal for clock() now, without waiting for the next tick (tests with an injected clock). */
  tick(): void;
  /** Closes the server, destroys every client socket and stops the tick timer. Safe to call twice. */
  stop(): Promise<void>;
}

function checkOptions(options: ModbusSimulatorOptions): void {
  const { port, tickMs } = options;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new EdgeError("SIM_OPTIONS_INVALID", `Modbus simulator port must be an integer 0..65535, got ${port}`);
  }
  if (tickMs !== undefined && (!Number.isFinite(tickMs) || tickMs < 1)) {
    throw new EdgeError("SIM_OPTIONS_INVALID", `Modbus simulator tickMs must be at least 1, got ${tickMs}`);
  }
}

export async function startModbusSimulator(options: ModbusSimulatorOptions = {}): Promise<ModbusSimulator> {
  checkOptions(options);
  const host = options.host ?? DEFAULT_MODBUS_SIM_HOST;
  const clock = options.clock ?? Date.now;
  const logger = options.logger?.child({ component: "modbus-sim" });
  // Parsing again is harmless for an already resolved profile and catches a hand-built one.
  const device = new SimulatedDevice(parseModbusProfile(options.profile ?? defaultProfile));

  const startedAt = clock();
  const tick = (): void => {
    try {
      device.refresh((clock() - startedAt) / 1000);
    } catch (err) {
      // A timer callback that throws would take the whole process down; a stale value is better.
      logger?.error({ err: errorMessage(err) }, "modbus simulator tick failed");
    }
  };
  tick(); // clients connecting right away must not read zeros

  const server = await startModbusTcpServer({ host, port: options.port ?? DEFAULT_MODBUS_SIM_PORT, device, logger });
  const timer = setInterval(tick, options.tickMs ?? DEFAULT_TICK_MS);
  // The server socket keeps the process alive while it runs; the timer alone should not.
  timer.unref();
  logger?.info({ host, port: server.port, units: device.unitIds() }, "modbus simulator listening");

  const memoryOf = (unit: number): UnitMemory => {
    const memory = device.memory(unit);
    if (memory === undefined) throw new RangeError(`unit id ${unit} is not in the simulator profile (units: ${device.unitIds().join(", ")})`);
    return memory;
  };
  const urlHost = host.includes(":") ? `[${host}]` : host;
  let stopped: Promise<void> | undefined;

  return {
    host,
    port: server.port,
    url: `tcp://${urlHost}:${server.port}`,
    stats: () => server.stats(),
    readRegisters: (unit, table, address, count) => memoryOf(unit).readWords(table, address, count),
    readBits: (unit, table, address, count) => memoryOf(unit).readBits(table, address, count),
    tick,
    stop: () => {
      stopped ??= (async () => {
        clearInterval(timer);
        await server.close();
        logger?.info({ port: server.port }, "modbus simulator stopped");
      })();
      return stopped;
    },
  };
}

