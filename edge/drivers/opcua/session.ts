/**
 * One connection to the server: the node-opcua client and session, the subscription, the poll timers,
 * and the requests (read, write, call). The driver makes a new one for each connection attempt; within
 * one, node-opcua repairs network drops and server restarts itself, and this class reports them.
 */
import { readFileSync } from "node:fs";
import {
  AttributeIds,
  DataType,
  MessageSecurityMode,
  OPCUAClient,
  SecurityPolicy,
  UserTokenType,
  findBasicDataType,
  type ClientSession,
  type NodeId,
  type UserIdentityInfo,
} from "node-opcua-client";
import type { Logger } from "../../logger.js";
import type { Clock, Sample, SampleValue } from "../../model.js";
import { EdgeError, errorMessage } from "../../errors.js";
import type { OpcuaDeviceConfig, OpcuaMethodConfig, OpcuaPointConfig } from "./config.js";
import type { OpcuaErrorKind } from "./errors.js";
import { resolveRefs } from "./resolve.js";
import { acquireManager, routeLibraryLogs } from "./stack.js";
import { DeviceSubscription, type SubscriptionHealth } from "./subscription.js";
import { dataTypeByName, sampleValueOf, toSample, toVariant } from "./values.js";

export interface SessionHooks {
  pkiDir: string;
  logger: Logger;
  clock: Clock;
  onSamples(samples: Sample[]): void;
  onNotifications(n: number): void;
  onPoll(): void;
  onOverrun(): void;
  onConnectionLost(reason: string): void;
  onRestored(): void;
  /** The connection cannot be repaired in place (session closed, subscription ended, repair taking too long). */
  onBroken(reason: string): void;
  onError(kind: OpcuaErrorKind, message: string): void;
}

const READ_BATCH = 1000;

function basicType(id: NodeId): DataType | null {
  return id.namespace === 0 && typeof id.value === "number" && id.value >= 1 && id.value <= 25 ? (id.value as DataType) : null;
}

export class OpcuaSession {
  private client: OPCUAClient | null = null;
  private session: ClientSession | null = null;
  private releaseManager: (() => Promise<void>) | null = null;
  private readonly subscription: DeviceSubscription;
  private readonly nodeIds = new Map<string, NodeId>();
  private readonly unresolved = new Map<string, string>();
  private readonly dataTypes = new Map<string, DataType>();
  private readonly methodNodes = new Map<string, { objectId: NodeId; methodId: NodeId; inputTypes: DataType[] }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly busy = new Set<number>();
  private closing = false;
  private repairTimer: NodeJS.Timeout | null = null;
  reconnecting = false;

  constructor(
    private readonly config: OpcuaDeviceConfig,
    private readonly hooks: SessionHooks,
  ) {
    routeLibraryLogs(hooks.logger);
    this.subscription = new DeviceSubscription(config, hooks.clock, {
      samples: (s) => hooks.onSamples(s),
      counted: (n) => hooks.onNotifications(n),
      lost: (reason) => this.broken(reason),
    });
  }

  summary(): Record<string, unknown> {
    return { securityPolicy: this.config.securityPolicy, securityMode: this.config.securityMode, identity: this.config.identity.type, points: this.config.points.length };
  }

  subscriptionHealth(): SubscriptionHealth {
    return this.subscription.snapshot();
  }

  /** Connects, opens the session and resolves every node reference. Throws on failure (the driver retries). */
  async open(): Promise<void> {
    const c = this.config;
    const { manager, release } = await acquireManager(this.hooks.pkiDir, c.acceptUnknownServerCertificate);
    this.releaseManager = release;
    const client = OPCUAClient.create({
      applicationName: c.applicationName,
      clientName: `${c.applicationName}/${c.id}`,
      clientCertificateManager: manager,
      securityPolicy: SecurityPolicy[c.securityPolicy],
      securityMode: MessageSecurityMode[c.securityMode],
      endpointMustExist: false,
      // The first attempt fails fast (the driver retries with its own backoff and reports why);
      // once connected, node-opcua repairs drops with these delays and no retry limit.
      connectionStrategy: { maxRetry: 0, initialDelay: 500, maxDelay: 10_000, randomisationFactor: 0.5 },
      requestedSessionTimeout: c.sessionTimeoutMs,
      defaultTransactionTimeout: c.timeoutMs,
      transportTimeout: c.timeoutMs,
      keepSessionAlive: true,
      keepAliveInterval: Math.max(2000, Math.min(10_000, c.timeoutMs)),
    });
    this.client = client;
    client.on("connection_lost", () => {
      if (this.closing) return;
      this.reconnecting = true;
      this.hooks.onConnectionLost("the connection to the server dropped");
      this.armRepairWatchdog();
    });
    client.on("reconnection_attempt_has_failed", (_err: Error, message: string) => {
      if (!this.closing) this.hooks.onError("connection", `reconnection attempt failed: ${message}`);
    });
    client.on("close", (err?: Error | null) => {
      if (!this.closing && err) this.broken(`connection closed: ${err.message}`);
    });
    await client.connect(c.endpointUrl);
    // Connected: from now on node-opcua repairs drops itself (retrying without limit, with the
    // delays above), reactivating the session and transferring or recreating its subscription.
    client.connectionStrategy.maxRetry = -1;
    const session = await client.createSession(this.identity());
    this.session = session;
    session.on("session_restored", () => {
      if (this.closing) return;
      this.reconnecting = false;
      this.disarmRepairWatchdog();
      this.hooks.onRestored();
    });
    session.on("session_closed", () => {
      if (!this.closing) this.broken("the server closed the session");
    });
    session.on("keepalive_failure", () => {
      if (!this.closing && !this.reconnecting) this.broken("the server stopped answering keep-alives");
    });
    await this.resolveAll(session);
  }

  /** Creates the subscription and starts the poll timers; returns the points that cannot be read, with why. */
  async startData(): Promise<Array<{ point: string; reason: string }>> {
    const session = this.session;
    if (!session) throw new EdgeError("DEVICE_OFFLINE", "no session");
    const refused = [...this.unresolved].map(([point, reason]) => ({ point, reason }));
    const subscribed = this.config.points.filter((p) => p.mode === "subscribe" && this.nodeIds.has(p.id));
    if (subscribed.length > 0) {
      refused.push(...(await this.subscription.create(session, subscribed.map((point) => ({ point, nodeId: this.nodeIds.get(point.id) as NodeId })))));
    }
    const groups = new Map<number, OpcuaPointConfig[]>();
    for (const p of this.config.points) {
      if (p.mode !== "poll" || !this.nodeIds.has(p.id)) continue;
      const ms = p.pollMs ?? this.config.pollMs;
      groups.set(ms, [...(groups.get(ms) ?? []), p]);
    }
    for (const [ms, points] of groups) this.schedulePoll(ms, points, 0);
    return refused;
  }

  async read(points: readonly OpcuaPointConfig[]): Promise<Sample[]> {
    const session = this.requireSession();
    const out: Sample[] = [];
    const readable = points.filter((p) => this.nodeIds.has(p.id));
    for (const p of points) {
      const why = this.unresolved.get(p.id);
      if (why !== undefined) out.push({ point: p.id, ts: this.hooks.clock(), value: null, quality: "bad", reason: why });
    }
    for (let i = 0; i < readable.length; i += READ_BATCH) {
      const chunk = readable.slice(i, i + READ_BATCH);
      const values = await session.read(chunk.map((p) => ({ nodeId: this.nodeIds.get(p.id), attributeId: AttributeIds.Value })), 0);
      const now = this.hooks.clock();
      chunk.forEach((p, k) => {
        const dv = values[k];
        out.push(dv ? toSample(p.id, dv, now) : { point: p.id, ts: now, value: null, quality: "bad", reason: "no result from the server" });
      });
    }
    return out;
  }

  async write(point: OpcuaPointConfig, value: SampleValue): Promise<void> {
    const session = this.requireSession();
    const nodeId = this.nodeOf(point.id);
    const dataType = point.dataType ? dataTypeByName[point.dataType] : await this.dataTypeOf(session, point.id, nodeId);
    const variant = toVariant(dataType, value, `point ${point.id}`);
    const status = await session.write({ nodeId, attributeId: AttributeIds.Value, value: { value: variant } });
    if (status.value !== 0) throw new EdgeError("WRITE_FAILED", `writing ${point.id} failed: the server answered ${status.name}${/BadTypeMismatch/.test(status.name) ? " (set dataType on the point to the variable's type)" : ""}`);
  }

  async call(method: OpcuaMethodConfig, args: readonly SampleValue[]): Promise<SampleValue[]> {
    const session = this.requireSession();
    const m = await this.methodOf(session, method);
    if (args.length !== m.inputTypes.length) throw new EdgeError("METHOD_ARGUMENTS", `method ${method.id} takes ${m.inputTypes.length} argument(s), got ${args.length}`);
    const inputArguments = args.map((a, i) => toVariant(m.inputTypes[i] as DataType, a, `method ${method.id} argument ${i + 1}`));
    const result = await session.call({ objectId: m.objectId, methodId: m.methodId, inputArguments });
    if (result.statusCode.value !== 0) {
      const bad = (result.inputArgumentResults ?? []).map((s, i) => (s.value !== 0 ? `argument ${i + 1}: ${s.name}` : null)).filter(Boolean);
      throw new EdgeError("METHOD_FAILED", `method ${method.id} failed: the server answered ${result.statusCode.name}${bad.length ? ` (${bad.join(", ")})` : ""}`);
    }
    return (result.outputArguments ?? []).map((v) => sampleValueOf(v) ?? "");
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.disarmRepairWatchdog();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.subscription.reset();
    const { client, session } = this;
    this.session = null;
    this.client = null;
    const bounded = <T>(p: Promise<T>) => Promise.race([p.catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    if (session) await bounded(session.close(true));
    if (client) await bounded(client.disconnect());
    await this.releaseManager?.();
    this.releaseManager = null;
  }

  private broken(reason: string): void {
    if (this.closing) return;
    this.hooks.onBroken(reason);
  }

  /** If node-opcua's own repair has not brought the session back in time, the driver starts over. */
  private armRepairWatchdog(): void {
    this.disarmRepairWatchdog();
    const ms = Math.max(30_000, this.config.sessionTimeoutMs);
    this.repairTimer = setTimeout(() => this.broken(`the connection was not repaired within ${ms / 1000} s`), ms);
    this.repairTimer.unref();
  }

  private disarmRepairWatchdog(): void {
    if (this.repairTimer) clearTimeout(this.repairTimer);
    this.repairTimer = null;
  }

  private identity(): UserIdentityInfo {
    const id = this.config.identity;
    switch (id.type) {
      case "anonymous":
        return { type: UserTokenType.Anonymous };
      case "username":
        return { type: UserTokenType.UserName, userName: id.username, password: id.password };
      case "certificate": {
        let certificateData: Buffer;
        let privateKey: string;
        try {
          const certText = readFileSync(id.certificateFile);
          const pem = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(certText.toString("latin1"));
          certificateData = pem ? Buffer.from((pem[1] ?? "").replace(/\s+/g, ""), "base64") : certText;
          privateKey = readFileSync(id.privateKeyFile, "utf8");
        } catch (err) {
          throw new EdgeError("OPCUA_IDENTITY", `cannot read the user certificate or key: ${errorMessage(err)}`, { cause: err });
        }
        return { type: UserTokenType.Certificate, certificateData, privateKey };
      }
    }
  }

  private async resolveAll(session: ClientSession): Promise<void> {
    const points = this.config.points;
    const results = await resolveRefs(session, points.map((p) => (p.nodeId ?? p.browsePath) as string));
    points.forEach((p, i) => {
      const r = results[i];
      if (r?.ok) this.nodeIds.set(p.id, r.nodeId);
      else this.unresolved.set(p.id, r?.reason ?? "not resolved");
    });
  }

  private schedulePoll(ms: number, points: OpcuaPointConfig[], delay: number): void {
    if (this.closing) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.poll(ms, points);
    }, delay);
    this.timers.add(timer);
  }

  private async poll(ms: number, points: OpcuaPointConfig[]): Promise<void> {
    if (this.closing) return;
    const started = this.hooks.clock();
    if (this.busy.has(ms)) {
      this.hooks.onOverrun();
      return;
    }
    this.busy.add(ms);
    try {
      // While node-opcua repairs the connection the points are already reported bad; skip the read.
      if (!this.reconnecting && this.session) {
        this.hooks.onPoll();
        this.hooks.onSamples(await this.read(points));
      }
    } catch (err) {
      if (!this.closing && !this.reconnecting) {
        const now = this.hooks.clock();
        this.hooks.onError("request", `poll read failed: ${errorMessage(err)}`);
        this.hooks.onSamples(points.map((p) => ({ point: p.id, ts: now, value: null, quality: "bad", reason: `read failed: ${errorMessage(err)}` })));
      }
    } finally {
      this.busy.delete(ms);
      const elapsed = this.hooks.clock() - started;
      if (elapsed > ms) for (let i = 0; i < Math.floor(elapsed / ms); i++) this.hooks.onOverrun();
      this.schedulePoll(ms, points, ms - (elapsed % ms));
    }
  }

  private requireSession(): ClientSession {
    if (!this.session || this.closing) throw new EdgeError("DEVICE_OFFLINE", `device ${this.config.id} has no session`);
    if (this.reconnecting) throw new EdgeError("DEVICE_OFFLINE", `device ${this.config.id} is reconnecting`);
    return this.session;
  }

  private nodeOf(pointId: string): NodeId {
    const id = this.nodeIds.get(pointId);
    if (!id) throw new EdgeError("POINT_UNRESOLVED", `point ${pointId} is not on the server: ${this.unresolved.get(pointId) ?? "not resolved"}`);
    return id;
  }

  private async dataTypeOf(session: ClientSession, pointId: string, nodeId: NodeId): Promise<DataType> {
    const known = this.dataTypes.get(pointId);
    if (known !== undefined) return known;
    const dv = await session.read({ nodeId, attributeId: AttributeIds.DataType });
    const typeId = dv.value?.value as NodeId | undefined;
    if (dv.statusCode.value !== 0 || !typeId) throw new EdgeError("WRITE_FAILED", `cannot read the DataType of ${pointId}: ${dv.statusCode.name}; set dataType on the point`);
    const type = basicType(typeId) ?? (await findBasicDataType(session, typeId));
    this.dataTypes.set(pointId, type);
    return type;
  }

  private async methodOf(session: ClientSession, method: OpcuaMethodConfig): Promise<{ objectId: NodeId; methodId: NodeId; inputTypes: DataType[] }> {
    const cached = this.methodNodes.get(method.id);
    if (cached) return cached;
    const [obj, meth] = await resolveRefs(session, [method.object, method.method]);
    if (!obj?.ok) throw new EdgeError("METHOD_UNRESOLVED", `method ${method.id}: object ${method.object}: ${obj?.reason ?? "not resolved"}`);
    if (!meth?.ok) throw new EdgeError("METHOD_UNRESOLVED", `method ${method.id}: method ${method.method}: ${meth?.reason ?? "not resolved"}`);
    let inputTypes: DataType[];
    if (method.inputTypes) inputTypes = method.inputTypes.map((t) => dataTypeByName[t]);
    else {
      const def = await session.getArgumentDefinition(meth.nodeId);
      inputTypes = [];
      for (const arg of def.inputArguments ?? []) inputTypes.push(basicType(arg.dataType) ?? (await findBasicDataType(session, arg.dataType)));
    }
    const entry = { objectId: obj.nodeId, methodId: meth.nodeId, inputTypes };
    this.methodNodes.set(method.id, entry);
    return entry;
  }
}
