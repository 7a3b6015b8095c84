import { resolve } from "node:path";
import { DriverStats } from "../driver-stats.js";
import { Backoff } from "../backoff.js";
import { LatencyWindow } from "../latency.js";
import { EdgeError, errorMessage } from "../../errors.js";
import type { Sample, SampleSink, SampleValue } from "../../model.js";
import type { ConnectionState, Driver, DriverContext, DriverStatus } from "../driver.js";
import type { OpcuaDeviceConfig, OpcuaPointConfig } from "./config.js";
import { explainOpcuaError, type OpcuaErrorKind } from "./errors.js";
import { RateMeter } from "./rate.js";
import { OpcuaSession } from "./session.js";
import type { SubscriptionHealth } from "./subscription.js";

/** The runtime's context, with the agent's data folder once the runtime passes it (PKI default: {dataDir}/pki). */
export type OpcuaDriverContext = DriverContext & { dataDir?: string };

export interface OpcuaDriverStatus extends DriverStatus {
  /** none: no session; active: a session is open; reconnecting: node-opcua is repairing the connection. */
  session: "none" | "active" | "reconnecting";
  securityPolicy: string;
  securityMode: string;
  subscription: SubscriptionHealth;
  /** Values received through the subscription, per second over the last seconds. */
  notificationsPerSecond: number;
  pkiDir: string;
  /** Set when the server's certificate is not trusted yet: what to pass to `edge-agent opcua certs trust`. */
  untrustedServerCertificate: string | null;
}

/**
 * An OPC UA server: one session, one subscription for the points with mode subscribe, timed reads for
 * those with mode poll, writes and method calls. The connection comes back on its own after a network
 * drop or a server restart (node-opcua repairs the session and transfers or recreates the monitored
 * items; when that fails the driver starts over with backoff), and every point is reported `bad` once
 * when the connection goes, so a gap is never silent.
 */
export class OpcuaDriver implements Driver {
  readonly id: string;
  private readonly stats: DriverStats<OpcuaErrorKind>;
  readonly pkiDir: string;
  private readonly pointsById: Map<string, OpcuaPointConfig>;
  private readonly backoff = new Backoff();
  private readonly latency = new LatencyWindow();
  private readonly rate: RateMeter;
  private state: ConnectionState = "disconnected";
  private untrusted: string | null = null;
  private sink: SampleSink | null = null;
  private stopped = true;
  private session: OpcuaSession | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;
  /** Points currently reported bad, so an outage yields one bad sample per point, not one per attempt. */
  private readonly badPoints = new Set<string>();
  private failureLogged = false;

  constructor(
    private readonly config: OpcuaDeviceConfig,
    private readonly ctx: OpcuaDriverContext,
  ) {
    this.id = config.id;
    this.stats = new DriverStats<OpcuaErrorKind>(["connection", "security", "session", "subscription", "timeout", "request", "other"], ctx.clock, ctx.logger);
    this.pointsById = new Map(config.points.map((p) => [p.id, p]));
    this.pkiDir = resolve(config.pkiDir ?? resolve(ctx.dataDir ?? "./data", "pki"));
    this.rate = new RateMeter(ctx.clock, 5);
  }

  async start(sink: SampleSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    const subscribed = this.config.points.filter((p) => p.mode === "subscribe").length;
    this.ctx.logger.info(
      { endpoint: this.config.endpointUrl, securityPolicy: this.config.securityPolicy, securityMode: this.config.securityMode, subscribed, polled: this.config.points.length - subscribed, pkiDir: this.pkiDir },
      "opcua device configured",
    );
    // Connecting happens in the background: the agent must come up even when the server is down.
    this.scheduleConnect(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    // An attempt in progress closes its own session when it sees `stopped`; do not wait for a slow
    // server's timeout longer than a moment.
    if (this.connecting) await Promise.race([this.connecting.catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    const session = this.session;
    this.session = null;
    await session?.close();
    this.state = "stopped";
  }

  status(): OpcuaDriverStatus {
    const s = this.session;
    return {
      id: this.id,
      protocol: "opcua",
      state: this.state,
      connected: this.state === "connected",
      endpoint: `${this.config.endpointUrl} (${this.config.securityPolicy}/${this.config.securityMode})`,
      ...this.stats.snapshot(),
      latencyMs: this.latency.percentiles(),
      session: s === null ? "none" : s.reconnecting ? "reconnecting" : "active",
      securityPolicy: this.config.securityPolicy,
      securityMode: this.config.securityMode,
      subscription: s?.subscriptionHealth() ?? { state: "none", subscriptionId: null, revisedPublishingIntervalMs: null, monitoredItems: 0, failedItems: {}, lastPublishAt: null, keepAlives: 0, notifications: 0 },
      notificationsPerSecond: Math.round(this.rate.perSecond() * 10) / 10,
      pkiDir: this.pkiDir,
      untrustedServerCertificate: this.untrusted,
    };
  }

  /** Writes a raw value (device units) to a writable point, converted to the variable's OPC UA type. */
  async write(pointId: string, value: SampleValue): Promise<void> {
    const point = this.pointsById.get(pointId);
    if (!point) throw new EdgeError("POINT_UNKNOWN", `device ${this.id} has no point ${pointId}`);
    if (!point.writable) throw new EdgeError("POINT_READ_ONLY", `point ${pointId} is not writable`);
    const session = this.requireSession();
    await this.request(() => session.write(point, value));
  }

  /** Reads a point now (a one-shot read, whatever its mode). */
  async read(pointId: string): Promise<Sample> {
    const point = this.pointsById.get(pointId);
    if (!point) throw new EdgeError("POINT_UNKNOWN", `device ${this.id} has no point ${pointId}`);
    const session = this.requireSession();
    const [sample] = await this.request(() => session.read([point]));
    if (!sample) throw new EdgeError("READ_FAILED", `reading ${pointId} returned nothing`);
    return sample;
  }

  /** Calls a configured method with raw arguments; returns its output arguments. */
  async call(methodId: string, args: readonly SampleValue[]): Promise<SampleValue[]> {
    const method = this.config.methods.find((m) => m.id === methodId);
    if (!method) throw new EdgeError("METHOD_UNKNOWN", `device ${this.id} has no method ${methodId} (configured: ${this.config.methods.map((m) => m.id).join(", ") || "none"})`);
    const session = this.requireSession();
    return this.request(() => session.call(method, args));
  }

  /** The ids of the methods this device offers. */
  methods(): string[] {
    return this.config.methods.map((m) => m.id);
  }

  private requireSession(): OpcuaSession {
    const session = this.session;
    if (!session || this.state !== "connected") throw new EdgeError("DEVICE_OFFLINE", `device ${this.id} is not connected${this.stats.lastError ? `: ${this.stats.lastError}` : ""}`);
    return session;
  }

  private async request<T>(run: () => Promise<T>): Promise<T> {
    this.stats.counters.requests++;
    const started = performance.now();
    try {
      const result = await run();
      this.latency.record(performance.now() - started);
      return result;
    } catch (err) {
      if (!(err instanceof EdgeError) || err.code === "REQUEST_FAILED") this.stats.countError("request", errorMessage(err));
      throw err;
    }
  }

  private scheduleConnect(delayMs: number): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connecting = this.connect().finally(() => {
        this.connecting = null;
      });
    }, delayMs);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.state = "connecting";
    const session = new OpcuaSession(this.config, {
      pkiDir: this.pkiDir,
      logger: this.ctx.logger,
      clock: this.ctx.clock,
      onSamples: (samples) => this.deliver(samples),
      onNotifications: (n) => this.rate.add(n),
      onPoll: () => this.stats.counters.polls++,
      onOverrun: () => this.stats.counters.overruns++,
      onConnectionLost: (reason) => this.connectionLost(reason),
      onRestored: () => this.restored(),
      onBroken: (reason) => void this.restart(session, reason),
      onError: (kind, message) => this.stats.countError(kind, message),
    });
    try {
      await session.open();
      if (this.stopped) {
        await session.close();
        return;
      }
      this.session = session;
      this.state = "connected";
      this.untrusted = null;
      this.backoff.reset();
      this.stats.lastSuccessAt = this.ctx.clock();
      this.failureLogged = false;
      this.ctx.logger.info({ endpoint: this.config.endpointUrl, ...session.summary() }, "opcua device connected");
      // The initial values (and refusals) arrive through the subscription and the first poll.
      const refused = await session.startData();
      if (refused.length > 0) {
        this.ctx.logger.warn({ refused }, "opcua: some points could not be monitored or resolved; they stay bad");
        this.deliver(refused.map((r) => ({ point: r.point, ts: this.ctx.clock(), value: null, quality: "bad" as const, reason: r.reason })));
      }
    } catch (err) {
      if (this.session === session) this.session = null;
      await session.close();
      if (this.stopped) return;
      const explained = explainOpcuaError(err, { endpointUrl: this.config.endpointUrl, pkiDir: this.pkiDir, since: this.ctx.clock() });
      this.untrusted = explained.untrustedServer ? (explained.untrustedServer.thumbprint ?? "unknown") : null;
      this.stats.countError(explained.kind, explained.message);
      this.state = "disconnected";
      const delay = this.backoff.next();
      const details = { endpoint: this.config.endpointUrl, reason: explained.message, retryInMs: delay };
      if (this.failureLogged) this.ctx.logger.debug(details, "opcua device still unreachable");
      else this.ctx.logger.warn(details, "opcua device unreachable; retrying with backoff");
      this.failureLogged = true;
      this.emitBad(`disconnected: ${explained.message}`);
      this.scheduleConnect(delay);
    }
  }

  /** node-opcua lost the channel and is repairing it: every point is bad until values flow again. */
  private connectionLost(reason: string): void {
    if (this.stopped) return;
    this.state = "connecting";
    this.stats.countError("connection", reason);
    this.ctx.logger.warn({ endpoint: this.config.endpointUrl, reason }, "opcua connection lost; reconnecting");
    this.emitBad(`connection lost: ${reason}`);
  }

  private restored(): void {
    if (this.stopped) return;
    this.state = "connected";
    this.stats.lastSuccessAt = this.ctx.clock();
    this.backoff.reset();
    this.ctx.logger.info({ endpoint: this.config.endpointUrl }, "opcua session restored");
  }

  /** The session or subscription cannot be repaired in place: start over from a new connection. */
  private async restart(session: OpcuaSession, reason: string): Promise<void> {
    // Late events of a session already replaced are ignored.
    if (this.stopped || this.session !== session) return;
    this.session = null;
    this.state = "disconnected";
    this.stats.countError("session", reason);
    this.ctx.logger.warn({ endpoint: this.config.endpointUrl, reason }, "opcua session lost; starting over");
    this.emitBad(`session lost: ${reason}`);
    await session.close();
    this.scheduleConnect(this.backoff.next());
  }

  private emitBad(reason: string): void {
    const ts = this.ctx.clock();
    const out: Sample[] = [];
    for (const p of this.config.points) {
      if (this.badPoints.has(p.id)) continue;
      out.push({ point: p.id, ts, value: null, quality: "bad", reason });
    }
    this.deliver(out);
  }

  private deliver(samples: Sample[]): void {
    if (samples.length === 0 || !this.sink || this.stopped) return;
    for (const s of samples) {
      if (s.quality === "bad") this.badPoints.add(s.point);
      else if (this.badPoints.size > 0) this.badPoints.delete(s.point);
    }
    this.stats.deliver(this.sink, samples);
  }

}
