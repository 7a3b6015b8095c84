/**
 * OPC UA factory simulator: a node-opcua server with a small production line (oven, press, filler),
 * deterministic signals, a writable setpoint and recipe, two methods, username users, the security
 * policies None / Basic256Sha256 / Aes128_Sha256_RsaOaep, and fault injection: slow responses, Bad or
 * Uncertain status codes, a network drop, a server restart. The agent's driver uses node-opcua too;
 * what keeps the tests honest is that the simulator only uses the server side and owns its model.
 *
 *   const sim = await startOpcuaSimulator({ port: 0 });
 *   sim.endpointUrl;                       // opc.tcp://127.0.0.1:40123
 *   sim.setFaults({ latencyMs: 500 });
 *   await sim.restart({ downMs: 1000 });   // the server goes away and comes back on the same port
 *   await sim.stop();
 *
 * Clients connect to a TCP relay on the public port (relay.ts); the server listens behind it on a
 * loopback port of its own and advertises the public one.
 */
import { mkdtemp, rm, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createHash, X509Certificate } from "node:crypto";
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { createGenerator, type Generator } from "../modbus/signals.js";
import { factoryIds, factoryVariables, variableKey, type FactoryVariable } from "./factory.js";
import { parseOpcuaFaults, statusFor, type OpcuaFaults, type ResolvedOpcuaFaults } from "./faults.js";
import { Relay } from "./proxy.js";
import type { ServerRun, SimSecurityMode, SimSecurityPolicy, SimState, SimValueState } from "./server.js";

export { factoryVariables, factoryIds, variableKey } from "./factory.js";
export type { FactoryVariable } from "./factory.js";
export { opcuaFaultsSchema, parseOpcuaFaults } from "./faults.js";
export type { OpcuaFaults, ResolvedOpcuaFaults } from "./faults.js";
export type { SimSecurityMode, SimSecurityPolicy } from "./server.js";

export const DEFAULT_OPCUA_SIM_HOST = "127.0.0.1";
/** The registered OPC UA port; unprivileged, so the simulator can use it. */
export const DEFAULT_OPCUA_SIM_PORT = 4840;
export const DEFAULT_OPCUA_TICK_MS = 100;
export const DEFAULT_OPCUA_USERS = [{ username: "operator", password: "operator-pw" }] as const;

export interface OpcuaSimulatorOptions {
  /** Bind address of the public port; default 127.0.0.1. */
  host?: string;
  /** Public TCP port; 0 picks a free one. Default 4840. */
  port?: number;
  /**
   * PKI folder of the simulator (its certificate and the client certificates it saw). Default: a new
   * temporary folder, removed by stop(), so the server gets a new certificate every start. Give a
   * folder (e.g. {dataDir}/opcua-sim-pki) to keep one certificate that clients trust once.
   */
  pkiDir?: string;
  /** Default: all three. */
  securityPolicies?: SimSecurityPolicy[];
  /** Default: None, Sign and SignAndEncrypt. */
  securityModes?: SimSecurityMode[];
  /** Default true. */
  allowAnonymous?: boolean;
  /** Username/password users; default operator / operator-pw. */
  users?: Array<{ username: string; password: string }>;
  /** Accept every client certificate (default true: a demo plant); false = only those in {pkiDir}/server/trusted. */
  acceptAnyClientCertificate?: boolean;
  /** Extra Double variables /1:Factory/1:Bulk/1:V00000.. (ns=1;s=Bulk.V00000), each changing every 10 ms: for load tests. */
  bulkVariables?: number;
  faults?: OpcuaFaults;
  /** How often signals are recomputed; default 100 ms. */
  tickMs?: number;
  /** ms clock; signals are functions of clock() minus its value at start. Default Date.now. */
  clock?: () => number;
  logger?: Logger;
}

export interface OpcuaSimulatorStats {
  /** Sessions and subscriptions open on the server now. */
  sessions: number;
  subscriptions: number;
  monitoredItems: number;
  /** TCP connections through the public port now, and accepted since start. */
  connections: number;
  accepted: number;
  restarts: number;
  /** Client writes accepted; method calls served. */
  writes: number;
  calls: number;
}

export interface OpcuaSimulator {
  readonly host: string;
  readonly port: number;
  /** opc.tcp://host:port */
  readonly endpointUrl: string;
  readonly pkiDir: string;
  /** Namespace URI of the factory's nodes (index 1 on this server). */
  readonly namespaceUri: string;
  /** SHA-1 thumbprint (hex) of the server's certificate, as `edge-agent opcua certs` shows it. */
  certificateThumbprint(): string | null;
  /** The server's certificate (PEM), e.g. to trust it in a client's PKI ahead of time. */
  certificatePem(): string | null;
  /** The current value of a factory variable by key (Line1.Oven1.Temperature); UInt64 as bigint. */
  value(key: string): number | boolean | string | bigint | undefined;
  stats(): OpcuaSimulatorStats;
  faults(): ResolvedOpcuaFaults;
  /** Replaces every fault (validated: SIM_FAULTS_INVALID keeps the old ones). */
  setFaults(faults: OpcuaFaults): void;
  clearFaults(): void;
  /** Cuts every client connection now (a network drop); the server and its sessions stay. */
  dropConnections(): void;
  /** Stops the server (connections refused), waits downMs (default 0), starts a new one on the same port. */
  restart(options?: { downMs?: number }): Promise<void>;
  /** Recomputes the signals for clock() now (tests with an injected clock). */
  tick(): void;
  stop(): Promise<void>;
}

function invalid(message: string): EdgeError {
  return new EdgeError("SIM_OPTIONS_INVALID", message);
}

interface Signal {
  def: FactoryVariable;
  key: string;
  generate: Generator | null;
}

function normalise(def: FactoryVariable, raw: number | bigint | boolean | string): number | boolean | string | bigint {
  switch (def.dataType) {
    case "Boolean":
      return typeof raw === "boolean" ? raw : Number(raw) !== 0;
    case "UInt64":
      return BigInt(raw);
    case "UInt32":
    case "Int32":
      return Number(raw);
    case "Float":
      return Math.fround(Number(raw));
    case "String":
      return String(raw);
    default:
      return Number(raw);
  }
}

export async function startOpcuaSimulator(options: OpcuaSimulatorOptions = {}): Promise<OpcuaSimulator> {
  const host = options.host ?? DEFAULT_OPCUA_SIM_HOST;
  const port = options.port ?? DEFAULT_OPCUA_SIM_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw invalid(`OPC UA simulator port must be an integer 0..65535, got ${port}`);
  const tickMs = options.tickMs ?? DEFAULT_OPCUA_TICK_MS;
  if (!Number.isFinite(tickMs) || tickMs < 1) throw invalid(`OPC UA simulator tickMs must be at least 1, got ${tickMs}`);
  const bulkCount = options.bulkVariables ?? 0;
  if (!Number.isInteger(bulkCount) || bulkCount < 0 || bulkCount > 100_000) throw invalid(`bulkVariables must be an integer 0..100000, got ${bulkCount}`);
  const policies = options.securityPolicies ?? ["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep"];
  const modes = options.securityModes ?? ["None", "Sign", "SignAndEncrypt"];
  if (policies.length === 0 || modes.length === 0) throw invalid("the OPC UA simulator needs at least one security policy and one mode");
  let faults = parseOpcuaFaults(options.faults);
  const clock = options.clock ?? Date.now;
  const logger = options.logger?.child({ component: "opcua-sim" });
  const ownPki = options.pkiDir === undefined;
  const pkiDir = options.pkiDir !== undefined ? resolve(options.pkiDir) : await mkdtemp(join(tmpdir(), "edge-opcua-sim-pki-"));
  await mkdir(pkiDir, { recursive: true });

  // node-opcua is heavy: load it only when a simulator actually starts.
  const { startServerRun } = await import("./server.js");

  const startedAt = clock();
  const signals: Signal[] = factoryVariables.map((def) => ({ def, key: variableKey(def), generate: def.signal ? createGenerator(def.signal) : null }));
  const values = new Map<string, SimValueState>();
  const overrides = new Map<string, number | boolean | string | bigint>();
  let strokeOffset = 0n;
  let batchId = 0;
  const counters = { restarts: 0, writes: 0, calls: 0 };

  const compute = (s: Signal, elapsedS: number): number | boolean | string | bigint => {
    const override = overrides.get(s.key);
    if (override !== undefined) return override;
    if (!s.generate) return normalise(s.def, s.def.initial ?? 0);
    let v = s.generate(elapsedS);
    if (s.key === "Line1.Press1.StrokeCount") v = Number(BigInt(Math.round(Number(v))) - strokeOffset);
    return normalise(s.def, v);
  };

  /** Recomputes every value; returns the keys that changed (value or status). */
  const recompute = (): string[] => {
    const now = clock();
    const elapsedS = (now - startedAt) / 1000;
    const changed: string[] = [];
    for (const s of signals) {
      const value = compute(s, elapsedS);
      const status = statusFor(faults, s.key);
      const prev = values.get(s.key);
      if (prev && prev.value === value && prev.status === status) continue;
      values.set(s.key, { value, status, ts: now });
      changed.push(s.key);
    }
    return changed;
  };
  recompute();

  const state: SimState = {
    values,
    onWrite(key, value) {
      counters.writes++;
      overrides.set(key, value);
      const prev = values.get(key);
      values.set(key, { value, status: prev?.status ?? null, ts: clock() });
      logger?.info({ key, value: String(value) }, "opcua simulator: value written");
    },
    startBatch(recipe) {
      counters.calls++;
      state.onWrite("Line1.Filler1.Recipe", recipe);
      run?.refresh(["Line1.Filler1.Recipe"]);
      return ++batchId;
    },
    resetStrokeCount() {
      counters.calls++;
      const current = values.get("Line1.Press1.StrokeCount")?.value ?? 0;
      strokeOffset += BigInt(current);
      const changed = recompute();
      run?.refresh(changed);
      return Number(current);
    },
    bulkValue: (index) => index + Math.floor(clock() / 10),
  };

  const relay = new Relay({ host, port });
  try {
    await relay.listen();
  } catch (err) {
    if (ownPki) await rm(pkiDir, { recursive: true, force: true });
    throw err;
  }
  relay.latencyMs = faults.latencyMs ?? 0;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  const endpointUrl = `opc.tcp://${urlHost}:${relay.port}`;
  const advertisedHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : urlHost;
  const runOptions = {
    pkiDir,
    advertisedUrl: `opc.tcp://${advertisedHost}:${relay.port}`,
    securityPolicies: policies,
    securityModes: modes,
    allowAnonymous: options.allowAnonymous ?? true,
    users: options.users ?? [...DEFAULT_OPCUA_USERS],
    acceptAnyClientCertificate: options.acceptAnyClientCertificate ?? true,
    bulkCount,
    state,
    logger,
  };

  let run: ServerRun | null = null;
  const startRun = async () => {
    run = await startServerRun(runOptions);
    relay.setTarget(run.port);
  };
  try {
    await startRun();
  } catch (err) {
    await relay.close();
    if (ownPki) await rm(pkiDir, { recursive: true, force: true });
    throw err;
  }

  const tick = () => {
    try {
      const changed = recompute();
      if (changed.length > 0) run?.refresh(changed);
    } catch (err) {
      logger?.error({ err: errorMessage(err) }, "opcua simulator tick failed");
    }
  };
  const timer = setInterval(tick, tickMs);
  timer.unref();
  logger?.info({ endpointUrl, pkiDir, policies, modes }, "opcua simulator listening");

  let stopped: Promise<void> | undefined;
  let restarting: Promise<void> | undefined;
  const thumbprint = () => {
    const pem = run?.certificatePem();
    if (!pem) return null;
    return createHash("sha1").update(new X509Certificate(pem).raw).digest("hex");
  };

  return {
    host,
    port: relay.port,
    endpointUrl,
    pkiDir,
    namespaceUri: factoryIds.namespaceUri,
    certificateThumbprint: thumbprint,
    certificatePem: () => run?.certificatePem() ?? null,
    value: (key) => values.get(key)?.value,
    stats: () => ({
      sessions: run?.sessions() ?? 0,
      subscriptions: run?.subscriptions() ?? 0,
      monitoredItems: run?.monitoredItems() ?? 0,
      connections: relay.connections,
      accepted: relay.accepted,
      ...counters,
    }),
    faults: () => structuredClone(faults),
    setFaults(input) {
      faults = parseOpcuaFaults(input);
      relay.latencyMs = faults.latencyMs ?? 0;
      tick();
      logger?.info({ faults }, "opcua simulator faults set");
    },
    clearFaults() {
      faults = parseOpcuaFaults({});
      relay.latencyMs = 0;
      tick();
    },
    dropConnections: () => relay.dropAll(),
    restart(o = {}) {
      restarting ??= (async () => {
        const downMs = o.downMs ?? 0;
        relay.setTarget(null);
        relay.dropAll();
        const old = run;
        run = null;
        await old?.shutdown();
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        if (stopped) return;
        await startRun();
        counters.restarts++;
        logger?.info({ endpointUrl }, "opcua simulator restarted");
      })().finally(() => {
        restarting = undefined;
      });
      return restarting;
    },
    tick,
    stop() {
      stopped ??= (async () => {
        clearInterval(timer);
        await restarting?.catch(() => undefined);
        relay.setTarget(null);
        await relay.close();
        await run?.shutdown();
        run = null;
        if (ownPki) await rm(pkiDir, { recursive: true, force: true });
        logger?.info({ endpointUrl }, "opcua simulator stopped");
      })();
      return stopped;
    },
  };
}
