/**
 * Modbus device simulator, over TCP or over an RTU serial line, with its own codec (no code shared
 * with the agent's driver), fed by deterministic signals from a data-driven profile, and with faults
 * that can be injected at start and at run time.
 *
 *   const sim = await startModbusSimulator({ port: 0 });              // Modbus TCP
 *   const rtu = await startModbusRtuSimulator({ path: "/dev/ttyUSB0" }); // Modbus RTU slave
 *   sim.setFaults({ dropRate: 0.1 });
 *   await sim.stop();
 *
 * Both share the device, memory, signals, PDU handling and faults (responder.ts); only framing
 * differs (server.ts for TCP, rtu.ts for RTU).
 */
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { SimulatedDevice } from "./device.js";
import { FaultInjector, type ModbusFaults, type parseModbusFaults } from "./faults.js";
import type { UnitMemory } from "./memory.js";
import { defaultProfile, parseModbusProfile, type ModbusProfile, type ResolvedModbusProfile } from "./profile.js";
import { Responder, type SimulatorStats, type Transport } from "./responder.js";
import { openRtuLine, rtuFrameTimeoutMs } from "./rtu.js";
import { startModbusTcpServer } from "./server.js";

export { defaultProfile, loadModbusProfile, modbusProfileSchema, parseModbusProfile, signalWidth } from "./profile.js";
export type { ModbusProfile, ModbusSignalDefinition, ResolvedModbusProfile, ResolvedSignalDefinition } from "./profile.js";
export type { ByteOrder, SimValue, ValueType } from "./encoding.js";
export type { SignalSpec, SignalKind } from "./signals.js";
export type { SimulatorStats } from "./responder.js";
export { faultsSchema, parseModbusFaults } from "./faults.js";
export type { ModbusFaults, ModbusFaultSpec } from "./faults.js";
export { ExceptionCode } from "./pdu.js";
export { TABLE_SIZE } from "./memory.js";
export { startModbusControlServer, type ModbusControlServer, type ModbusControlOptions } from "./control.js";

export const DEFAULT_MODBUS_SIM_HOST = "127.0.0.1";
/** The registered Modbus port 502 needs root; 5020 is the customary unprivileged stand-in. */
export const DEFAULT_MODBUS_SIM_PORT = 5020;
export const DEFAULT_TICK_MS = 100;
export const DEFAULT_BAUD_RATE = 9600;
/** Longest offline period goOffline accepts. */
export const MAX_OFFLINE_SECONDS = 86_400;

/** Faults after validation, as `faults()` returns them. */
export type ResolvedModbusFaults = ReturnType<typeof parseModbusFaults>;

export interface ModbusSimulatorCommonOptions {
  /** Register map; default `defaultProfile`. Validated: an invalid profile throws SIM_PROFILE_INVALID. */
  profile?: ModbusProfile | ResolvedModbusProfile;
  /** Faults from the start; replaces the profile's `faults:` section. Invalid → SIM_FAULTS_INVALID. */
  faults?: ModbusFaults;
  /** How often signals are written into the tables. Default 100 ms. */
  tickMs?: number;
  /** Milliseconds; signals are functions of clock() minus its value at start. Default Date.now. */
  clock?: () => number;
  logger?: Logger;
}

export interface ModbusSimulatorOptions extends ModbusSimulatorCommonOptions {
  /** Bind address; default 127.0.0.1 so a laptop demo is not exposed to the network. */
  host?: string;
  /** TCP port; 0 picks a free one (read it back from `port`). Default 5020. */
  port?: number;
}

export interface ModbusRtuSimulatorOptions extends ModbusSimulatorCommonOptions {
  /** Serial device, e.g. /dev/ttyUSB0 or one end of a socat pty pair. */
  path: string;
  /** Default 9600. Sets the line speed and the inter-frame timeout. */
  baudRate?: number;
  /** Silence after which a partial request is discarded; default 3.5 characters at baudRate, at least 10 ms. */
  frameTimeoutMs?: number;
}

/** What both the TCP and the RTU simulator offer. */
export interface ModbusSimulatorControls {
  /** tcp://host:port or rtu:///dev/ttyX */
  readonly url: string;
  stats(): SimulatorStats;
  /** The registers as a client would read them now (throws RangeError for an unknown unit or address). */
  readRegisters(unit: number, table: "holding" | "input", address: number, count: number): number[];
  readBits(unit: number, table: "coil" | "discrete", address: number, count: number): boolean[];
  /** Writes every signal for clock() now, without waiting for the next tick (tests with an injected clock). */
  tick(): void;
  /** The faults in force now (resetNext shows what is left). */
  faults(): ResolvedModbusFaults;
  /** Replaces every fault; throws SIM_FAULTS_INVALID (and keeps the old ones) on a bad input. */
  setFaults(faults: ModbusFaults): void;
  clearFaults(): void;
  /**
   * Without a unit: the whole device goes away for `seconds` (TCP: the listener and every client are
   * closed, connections are refused, then it listens again on the same port; RTU: silent). With a
   * unit: only that unit id (TCP answers it with exception 0x0B, RTU stays silent for it).
   */
  goOffline(seconds: number, unit?: number): Promise<void>;
  /** Ends an offline period now (for one unit, or the device and every unit). */
  goOnline(unit?: number): Promise<void>;
  /** Closes the transport, stops the tick timer and every fault timer. Safe to call twice. */
  stop(): Promise<void>;
}

/** The Modbus TCP simulator. */
export interface ModbusSimulator extends ModbusSimulatorControls {
  readonly host: string;
  readonly port: number;
}

/** The Modbus RTU simulator (a slave, or several, on one serial line). */
export interface ModbusRtuSimulator extends ModbusSimulatorControls {
  readonly path: string;
  readonly baudRate: number;
}

function invalid(message: string): EdgeError {
  return new EdgeError("SIM_OPTIONS_INVALID", message);
}

function checkCommon(options: ModbusSimulatorCommonOptions): void {
  const { tickMs } = options;
  if (tickMs !== undefined && (!Number.isFinite(tickMs) || tickMs < 1)) throw invalid(`Modbus simulator tickMs must be at least 1, got ${tickMs}`);
}

interface Core {
  device: SimulatedDevice;
  responder: Responder;
  tick: () => void;
  startTimer: () => void;
  stopTimer: () => void;
  logger: Logger | undefined;
}

function createCore(options: ModbusSimulatorCommonOptions, transport: Transport, profile: ResolvedModbusProfile): Core {
  const clock = options.clock ?? Date.now;
  const logger = options.logger?.child({ component: transport === "tcp" ? "modbus-sim" : "modbus-rtu-sim" });
  const device = new SimulatedDevice(profile);
  const faults = new FaultInjector(options.faults ?? profile.faults);
  const responder = new Responder(device, faults, transport, logger);
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
  let timer: NodeJS.Timeout | undefined;
  return {
    device,
    responder,
    tick,
    logger,
    startTimer: () => {
      timer = setInterval(tick, options.tickMs ?? DEFAULT_TICK_MS);
      // The transport keeps the process alive while it runs; the timer alone should not.
      timer.unref();
    },
    stopTimer: () => clearInterval(timer),
  };
}

interface TransportHooks {
  url: string;
  goOfflineAll(ms: number): Promise<void>;
  goOnlineAll(): Promise<void>;
  close(): Promise<void>;
}

function controls(core: Core, hooks: TransportHooks): ModbusSimulatorControls {
  const { device, responder } = core;
  const memoryOf = (unit: number): UnitMemory => {
    const memory = device.memory(unit);
    if (memory === undefined) throw new RangeError(`unit id ${unit} is not in the simulator profile (units: ${device.unitIds().join(", ")})`);
    return memory;
  };
  let stopped: Promise<void> | undefined;
  return {
    url: hooks.url,
    stats: () => responder.stats(),
    readRegisters: (unit, table, address, count) => memoryOf(unit).readWords(table, address, count),
    readBits: (unit, table, address, count) => memoryOf(unit).readBits(table, address, count),
    tick: core.tick,
    faults: () => responder.faults.current(),
    setFaults: (faults) => {
      responder.faults.set(faults);
      core.logger?.info({ faults: responder.faults.current() }, "modbus simulator faults set");
    },
    clearFaults: () => responder.faults.clear(),
    goOffline: async (seconds, unit) => {
      if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_OFFLINE_SECONDS) {
        throw invalid(`offline seconds must be a number in (0, ${MAX_OFFLINE_SECONDS}], got ${String(seconds)}`);
      }
      if (unit !== undefined && (!Number.isInteger(unit) || unit < 0 || unit > 255)) throw invalid(`unit id must be 0..255, got ${String(unit)}`);
      if (stopped !== undefined) return;
      if (unit === undefined) await hooks.goOfflineAll(seconds * 1000);
      else responder.unitOffline(unit, seconds * 1000);
    },
    goOnline: async (unit) => {
      responder.unitOnline(unit);
      if (unit === undefined && stopped === undefined) await hooks.goOnlineAll();
    },
    stop: () => {
      stopped ??= (async () => {
        core.stopTimer();
        responder.close();
        await hooks.close();
        core.logger?.info({ url: hooks.url }, "modbus simulator stopped");
      })();
      return stopped;
    },
  };
}

export async function startModbusSimulator(options: ModbusSimulatorOptions = {}): Promise<ModbusSimulator> {
  checkCommon(options);
  const { port } = options;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) throw invalid(`Modbus simulator port must be an integer 0..65535, got ${port}`);
  const host = options.host ?? DEFAULT_MODBUS_SIM_HOST;
  // Parsing again is harmless for an already resolved profile and catches a hand-built one.
  const core = createCore(options, "tcp", parseModbusProfile(options.profile ?? defaultProfile));
  const server = await startModbusTcpServer({ host, port: port ?? DEFAULT_MODBUS_SIM_PORT, responder: core.responder, logger: core.logger });
  core.startTimer();
  const urlHost = host.includes(":") ? `[${host}]` : host;
  const url = `tcp://${urlHost}:${server.port}`;
  core.logger?.info({ host, port: server.port, units: core.device.unitIds() }, "modbus simulator listening");
  const base = controls(core, {
    url,
    goOfflineAll: (ms) => server.goOffline(ms),
    goOnlineAll: () => server.goOnline(),
    close: () => server.close(),
  });
  return { ...base, host, port: server.port };
}

export async function startModbusRtuSimulator(options: ModbusRtuSimulatorOptions): Promise<ModbusRtuSimulator> {
  checkCommon(options);
  const { path } = options;
  if (typeof path !== "string" || path === "") throw invalid("Modbus RTU simulator needs the path of a serial device");
  const baudRate = options.baudRate ?? DEFAULT_BAUD_RATE;
  if (!Number.isInteger(baudRate) || baudRate < 50 || baudRate > 4_000_000) throw invalid(`baud rate must be an integer 50..4000000, got ${baudRate}`);
  const frameTimeoutMs = options.frameTimeoutMs ?? rtuFrameTimeoutMs(baudRate);
  if (!Number.isFinite(frameTimeoutMs) || frameTimeoutMs < 1) throw invalid(`frameTimeoutMs must be at least 1, got ${frameTimeoutMs}`);
  const profile = parseModbusProfile(options.profile ?? defaultProfile);
  const broadcastUnit = profile.units.findIndex((u) => u.unit === 0);
  if (broadcastUnit !== -1) throw new EdgeError("SIM_PROFILE_INVALID", `units[${broadcastUnit}].unit: unit id 0 is the broadcast address on an RTU line; use 1..247`);

  const core = createCore(options, "rtu", profile);
  const line = await openRtuLine({ path, baudRate, frameTimeoutMs, responder: core.responder, logger: core.logger });
  core.startTimer();
  const url = `rtu://${path}`;
  core.logger?.info({ path, baudRate, units: core.device.unitIds() }, "modbus rtu simulator listening");
  let offlineTimer: NodeJS.Timeout | undefined;
  const base = controls(core, {
    url,
    goOfflineAll: async (ms) => {
      clearTimeout(offlineTimer);
      core.responder.offline = true;
      core.logger?.info({ seconds: ms / 1000 }, "modbus rtu simulator offline (silent)");
      offlineTimer = setTimeout(() => (core.responder.offline = false), ms);
      offlineTimer.unref();
    },
    goOnlineAll: async () => {
      clearTimeout(offlineTimer);
      core.responder.offline = false;
    },
    close: async () => {
      clearTimeout(offlineTimer);
      await line.close();
    },
  });
  return { ...base, path, baudRate };
}
