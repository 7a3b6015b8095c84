/**
 * One run of the node-opcua server behind the relay: created at start and again at every restart
 * (same PKI folder, so the same certificate), with the factory address space bound to the
 * simulator's state, which outlives the server (a restart keeps the counters and written setpoints).
 */
import { join } from "node:path";
import { OPCUAServer, Subscription } from "node-opcua-server";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { format } from "node:util";
import { DataType, VariantArrayType, MessageSecurityMode, SecurityPolicy, StatusCodes, Variant, setErrorLogger, setWarningLogger, type StatusCode } from "node-opcua-client";
import type { Logger } from "pino";
import { factoryVariables, variableKey, type FactoryVariable, type SimDataType } from "./factory.js";

export type SimSecurityPolicy = "None" | "Basic256Sha256" | "Aes128_Sha256_RsaOaep";
export type SimSecurityMode = "None" | "Sign" | "SignAndEncrypt";

export interface SimValueState {
  value: number | boolean | string | bigint;
  status: string | null;
  /** ms epoch of the last change. */
  ts: number;
}

/** What the server reads and writes: owned by the simulator, shared by every server run. */
export interface SimState {
  values: Map<string, SimValueState>;
  /** Called when a client wrote a writable variable. */
  onWrite(key: string, value: number | boolean | string | bigint): void;
  startBatch(recipe: string, quantity: number): number;
  resetStrokeCount(): number;
  bulkValue(index: number): number;
}

export interface ServerRunOptions {
  pkiDir: string;
  advertisedUrl: string;
  securityPolicies: readonly SimSecurityPolicy[];
  securityModes: readonly SimSecurityMode[];
  allowAnonymous: boolean;
  users: ReadonlyArray<{ username: string; password: string }>;
  /** Accept any client certificate (a demo); false = only those in {pkiDir}/server/trusted. */
  acceptAnyClientCertificate: boolean;
  bulkCount: number;
  state: SimState;
  logger?: Logger | undefined;
}

export interface ServerRun {
  port: number;
  /** Pushes the state's current values into the address space. */
  refresh(changed: Iterable<string>): void;
  certificatePem(): string | null;
  sessions(): number;
  subscriptions(): number;
  monitoredItems(): number;
  shutdown(): Promise<void>;
}

let libraryLogger: Logger | null = null;
/** node-opcua prints to the console; in the simulator its lines go to the simulator's logger at debug level. */
setWarningLogger((...args: unknown[]) => libraryLogger?.debug(format(...args)));
setErrorLogger((...args: unknown[]) => libraryLogger?.debug(format(...args)));

/**
 * node-opcua caps a publish response at 1000 notifications, which limits a subscription to about
 * 1000 values per publishing cycle whatever the client asks; a PLC-class server sends what it has.
 * The load tests (10,000 items at 100 ms) need the simulator not to be that bottleneck.
 */
Subscription.maxNotificationPerPublishHighLimit = 50_000;

const dataTypes: Record<SimDataType, DataType> = {
  Boolean: DataType.Boolean,
  Int32: DataType.Int32,
  UInt32: DataType.UInt32,
  UInt64: DataType.UInt64,
  Float: DataType.Float,
  Double: DataType.Double,
  String: DataType.String,
};

const policies: Record<SimSecurityPolicy, SecurityPolicy> = {
  None: SecurityPolicy.None,
  Basic256Sha256: SecurityPolicy.Basic256Sha256,
  Aes128_Sha256_RsaOaep: SecurityPolicy.Aes128_Sha256_RsaOaep,
};
const modes: Record<SimSecurityMode, MessageSecurityMode> = {
  None: MessageSecurityMode.None,
  Sign: MessageSecurityMode.Sign,
  SignAndEncrypt: MessageSecurityMode.SignAndEncrypt,
};

/** node-opcua's UInt64 is [high, low] 32-bit words. */
function toUInt64(v: bigint): [number, number] {
  return [Number((v >> 32n) & 0xffffffffn), Number(v & 0xffffffffn)];
}

export function toVariant(type: SimDataType, value: number | boolean | string | bigint): Variant {
  switch (type) {
    case "Boolean":
      return new Variant({ dataType: DataType.Boolean, value: typeof value === "boolean" ? value : Number(value) !== 0 });
    case "UInt64":
      return new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: toUInt64(BigInt(value)) });
    case "String":
      return new Variant({ dataType: DataType.String, value: String(value) });
    default:
      return new Variant({ dataType: dataTypes[type], value: Number(value) });
  }
}

function fromVariant(type: SimDataType, variant: Variant): number | boolean | string | bigint {
  const v: unknown = variant.value;
  if (type === "UInt64" && Array.isArray(v)) return (BigInt(v[0] as number) << 32n) | BigInt(v[1] as number);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "string" || typeof v === "bigint") return v;
  return String(v);
}

function statusCode(name: string | null): StatusCode {
  if (name === null) return StatusCodes.Good;
  const code = (StatusCodes as unknown as Record<string, StatusCode | undefined>)[name];
  return code ?? StatusCodes.Bad;
}

export async function startServerRun(o: ServerRunOptions): Promise<ServerRun> {
  if (o.logger) libraryLogger ??= o.logger.child({ component: "node-opcua" });
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: join(o.pkiDir, "server"), automaticallyAcceptUnknownCertificate: o.acceptAnyClientCertificate });
  const userCertificateManager = new OPCUACertificateManager({ rootFolder: join(o.pkiDir, "users"), automaticallyAcceptUnknownCertificate: true });
  const server = new OPCUAServer({
    port: 0,
    hostname: "127.0.0.1",
    advertisedEndpoints: o.advertisedUrl,
    serverCertificateManager,
    userCertificateManager,
    securityPolicies: o.securityPolicies.map((p) => policies[p]),
    securityModes: o.securityModes.map((m) => modes[m]),
    allowAnonymous: o.allowAnonymous,
    userManager: { isValidUser: (username: string, password: string) => o.users.some((u) => u.username === username && u.password === password) },
    serverInfo: { applicationUri: "urn:edge-agent:opcua-simulator", productUri: "edge-agent-opcua-simulator", applicationName: { text: "edge-agent factory simulator" } },
    buildInfo: { productName: "edge-agent OPC UA simulator", manufacturerName: "edge-agent", softwareVersion: "1" },
    serverCapabilities: { maxSessions: 100, operationLimits: { maxMonitoredItemsPerCall: 20_000, maxNodesPerRead: 20_000, maxNodesPerWrite: 1000 } },
    maxConnectionsPerEndpoint: 100,
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace;
  if (!addressSpace) throw new Error("node-opcua server has no address space after initialize()");
  const ns = addressSpace.getOwnNamespace();
  const factory = ns.addFolder(addressSpace.rootFolder.objects, { browseName: "Factory", nodeId: "s=Factory" });
  const line = ns.addObject({ organizedBy: factory, browseName: "Line1", nodeId: "s=Line1" });
  const machines = new Map<string, ReturnType<typeof ns.addObject>>();
  const machine = (name: string) => {
    let m = machines.get(name);
    if (!m) {
      m = ns.addObject({ componentOf: line, browseName: name, nodeId: `s=Line1.${name}` });
      machines.set(name, m);
    }
    return m;
  };
  const nodes = new Map<string, { def: FactoryVariable; node: { setValueFromSource(v: Variant, s?: StatusCode, ts?: Date): void } }>();
  for (const def of factoryVariables) {
    const key = variableKey(def);
    const common = {
      componentOf: machine(def.machine),
      browseName: def.name,
      nodeId: def.nodeId,
      description: def.description,
      minimumSamplingInterval: 50,
      accessLevel: def.writable ? "CurrentRead | CurrentWrite" : "CurrentRead",
      userAccessLevel: def.writable ? "CurrentRead | CurrentWrite" : "CurrentRead",
    };
    const node = def.analog
      ? ns.addAnalogDataItem({ ...common, dataType: def.dataType, engineeringUnitsRange: { low: def.analog.low, high: def.analog.high }, engineeringUnits: undefined })
      : ns.addVariable({ ...common, dataType: def.dataType });
    const state = o.state.values.get(key);
    if (state) node.setValueFromSource(toVariant(def.dataType, state.value), statusCode(state.status), new Date(state.ts));
    if (def.writable) {
      node.on("value_changed", (dv: { value: Variant; statusCode: StatusCode }) => {
        const now = o.state.values.get(key);
        const written = fromVariant(def.dataType, dv.value);
        if (now && now.value !== written) o.state.onWrite(key, written);
      });
    }
    nodes.set(key, { def, node });
  }
  const startBatch = ns.addMethod(line, {
    browseName: "StartBatch",
    nodeId: "s=Line1.StartBatch",
    description: "Starts a batch: sets Filler1.Recipe and returns a batch id (1, 2, ...). quantity 0 is refused with BadInvalidArgument.",
    inputArguments: [
      { name: "recipe", dataType: DataType.String, description: "recipe name" },
      { name: "quantity", dataType: DataType.UInt32, description: "bottles to fill (1..)" },
    ],
    outputArguments: [{ name: "batchId", dataType: DataType.UInt32, description: "the new batch's id" }],
  });
  startBatch.bindMethod(async (inputs: Variant[], _context: unknown) => {
    const recipe = inputs[0]?.value as unknown;
    const quantity = inputs[1]?.value as unknown;
    if (typeof recipe !== "string" || recipe === "" || typeof quantity !== "number" || quantity < 1) return { statusCode: StatusCodes.BadInvalidArgument };
    const id = o.state.startBatch(recipe, quantity);
    return { statusCode: StatusCodes.Good, outputArguments: [new Variant({ dataType: DataType.UInt32, value: id })] };
  });
  const reset = ns.addMethod(machine("Press1"), {
    browseName: "ResetStrokeCount",
    nodeId: "s=Line1.Press1.ResetStrokeCount",
    description: "Sets StrokeCount back to 0 and returns the count before the reset.",
    inputArguments: [],
    outputArguments: [{ name: "previous", dataType: DataType.UInt32, description: "count before the reset" }],
  });
  reset.bindMethod(async (_inputs: Variant[], _context: unknown) => ({ statusCode: StatusCodes.Good, outputArguments: [new Variant({ dataType: DataType.UInt32, value: o.state.resetStrokeCount() })] }));

  if (o.bulkCount > 0) {
    const bulk = ns.addFolder(factory, { browseName: "Bulk", nodeId: "s=Bulk" });
    for (let i = 0; i < o.bulkCount; i++) {
      const index = i;
      ns.addVariable({
        componentOf: bulk,
        browseName: `V${String(i).padStart(5, "0")}`,
        nodeId: `s=Bulk.V${String(i).padStart(5, "0")}`,
        dataType: "Double",
        minimumSamplingInterval: 50,
        value: { get: () => new Variant({ dataType: DataType.Double, value: o.state.bulkValue(index) }) },
      });
    }
  }

  await server.start();
  const endpoint = server.endpoints[0];
  const port = endpoint?.port;
  if (port === undefined) throw new Error("node-opcua server did not report its port");
  return {
    port,
    refresh(changed) {
      for (const key of changed) {
        const entry = nodes.get(key);
        const state = o.state.values.get(key);
        if (!entry || !state) continue;
        entry.node.setValueFromSource(toVariant(entry.def.dataType, state.value), statusCode(state.status), new Date(state.ts));
      }
    },
    certificatePem() {
      try {
        const der = server.getCertificate();
        return `-----BEGIN CERTIFICATE-----\n${der.toString("base64").replace(/(.{64})/g, "$1\n").trimEnd()}\n-----END CERTIFICATE-----\n`;
      } catch {
        return null;
      }
    },
    sessions: () => server.currentSessionCount,
    subscriptions: () => server.currentSubscriptionCount,
    monitoredItems: () => {
      let n = 0;
      for (const session of server.engine.getSessions()) for (const sub of session.publishEngine.subscriptions) n += sub.monitoredItemCount;
      return n;
    },
    async shutdown() {
      await server.shutdown(0);
    },
  };
}
