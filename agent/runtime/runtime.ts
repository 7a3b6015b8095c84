import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "../../edge/logger.js";
import type { Clock } from "../../edge/model.js";
import type { Driver } from "../../edge/drivers/driver.js";
// factory.ts, not registry.ts: the registry holds the zod device schemas (~12 MB resident once loaded).
import { createDriver } from "../../edge/drivers/factory.js";
import { SharedResources } from "../../edge/drivers/shared.js";
import type { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import { openOutbox } from "../../edge/store/open-store.js";
import { StoreWriter } from "../../edge/store/store-writer.js";
import { DropReporter } from "../../edge/store/drop-report.js";
import { Pipeline } from "../../edge/pipeline/pipeline.js";
import { MqttUplink, type Uplink } from "../../edge/uplink/mqtt-uplink.js";
import { metricHint } from "./metric-hint.js";
import { expandRoot } from "../../edge/uplink/topics.js";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import type { AgentConfig } from "../config/schema.js";
import { loadOrCreateIdentity } from "../identity/identity.js";
import { ApiServer } from "../api/server.js";
import { loadOrCreateApiToken } from "../api/auth.js";
import { PointWriter, type WritablePoint } from "../../edge/pipeline/point-writer.js";
import { pointView, virtualPointView, type PointView } from "./points.js";
import type { PointBaseConfig } from "../../edge/drivers/point-schema.js";
import { ComponentStack, type Component } from "./component.js";
import type { AgentStatus } from "./status.js";
import type { RulesService } from "../rules/service.js";
import type { CommandChannel } from "../../edge/uplink/commands.js";
import type { DeviceView } from "../api/context.js";
import { rulesComponent } from "./rules-component.js";
import { commandsComponent } from "./commands-component.js";
import { otaComponent } from "./ota-component.js";
import type { UpdaterStatus } from "../ota/updater.js";
import { logLevelControl } from "../log.js";

/** Reads a PEM file named in the config; a missing or unreadable file stops the start with its config path. */
function readPem(file: string | undefined, field: string): Buffer | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw new EdgeError("TLS_FILE", `${field}: cannot read ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

export interface RuntimeOptions {
  config: AgentConfig;
  /** The file `config` was read from: a rules reload (API, fleet command) re-reads it. */
  configFile?: string;
  logger: Logger;
  version: string;
  clock?: Clock;
  /** How often store bounds are applied and drops reported (default 10 s; tests shorten it). */
  upkeepMs?: number;
}

/**
 * The agent process's data plane and API, wired once from a validated config. Start order follows the
 * data flow backwards (store, uplink, drivers, API) so nothing produces data before its consumer is
 * ready; stop is the reverse, and the store closes last so every accepted sample is committed.
 */
export class Runtime {
  readonly deviceId: string;
  private readonly clock: Clock;
  private readonly stack: ComponentStack;
  private readonly startedAt: number;
  private outbox: SqliteOutbox | null = null;
  private writer: StoreWriter | null = null;
  private otaStatus: (() => UpdaterStatus) | null = null;
  private uplink: Uplink | null = null;
  private pipeline: Pipeline | null = null;
  private readonly drivers: Driver[] = [];
  private api: ApiServer | null = null;
  private rules: RulesService | null = null;
  private commands: CommandChannel | null = null;
  private pointWriter = new PointWriter(new Map());
  private boundsTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: RuntimeOptions) {
    this.clock = options.clock ?? Date.now;
    this.stack = new ComponentStack(options.logger.child({ component: "runtime" }));
    const { config } = options;
    this.deviceId = config.device.id ?? loadOrCreateIdentity(resolve(config.dataDir)).derivedId;
    this.startedAt = this.clock();
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const writePoint = (id: string, value: Parameters<PointWriter["write"]>[1]) => this.writePoint(id, value);
    await this.stack.start([
      this.storeComponent(),
      this.uplinkComponent(),
      this.pipelineComponent(),
      rulesComponent({
        config,
        configFile: this.options.configFile,
        logger,
        clock: this.clock,
        outbox: () => this.requireOutbox(),
        writer: () => this.requireWriter(),
        pipeline: () => this.requirePipeline(),
        writePoint,
        onStarted: (s) => (this.rules = s),
      }),
      this.driversComponent(),
      commandsComponent({ config, deviceId: this.deviceId, logger, uplink: () => this.uplink, rules: () => this.requireRules(), writePoint, onStarted: (c) => (this.commands = c) }),
      otaComponent({ config, deviceId: this.deviceId, logger, uplink: () => this.uplink, onStarted: (s) => (this.otaStatus = s) }),
      this.apiComponent(),
    ]);
    // Online only now: offers and commands arriving from here on find their subscriptions in place.
    if (this.uplink instanceof MqttUplink) this.uplink.announceOnline();
  }

  stop(): Promise<void> {
    return this.stack.stop();
  }

  /** Where the API listens once started (port resolved when configured as 0). */
  apiAddress(): { host: string; port: number } | null {
    return this.api?.address() ?? null;
  }

  status(): AgentStatus {
    const uplink = this.uplink;
    return {
      version: this.options.version,
      deviceId: this.deviceId,
      pid: process.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeS: Math.round((this.clock() - this.startedAt) / 100) / 10,
      drivers: this.drivers.map((d) => d.status()),
      outbox: this.requireOutbox().stats(),
      store: this.requireWriter().status(),
      ota: this.otaStatus ? this.otaStatus() : null,
      uplink: uplink ? uplink.status() : null,
      pipeline: { ...this.requirePipeline().counters },
      rules: this.requireRules().stats(),
      commands: this.commands ? { ...this.commands.counters } : null,
    };
  }

  /** Every configured device with its driver's status (null when its driver did not start). */
  devices(): DeviceView[] {
    const byId = new Map(this.drivers.map((d) => [d.id, d]));
    return this.options.config.devices.map((d) => ({
      id: d.id,
      protocol: d.protocol,
      name: (d as { name?: string }).name ?? null,
      points: d.points.length,
      status: byId.get(d.id)?.status() ?? null,
    }));
  }

  /** Every configured point with its latest stored sample, then the virtual points rules set. */
  points(): PointView[] {
    const latest = this.pipeline?.latest();
    const device = this.options.config.devices.flatMap((d) => (d.points as readonly PointBaseConfig[]).map((p) => pointView(d.id, p, latest?.get(p.id))));
    const virtual = (this.rules?.virtualPoints() ?? []).map((v) => virtualPointView(v, latest?.get(v.id)));
    return [...device, ...virtual];
  }

  /** Writes a point in engineering units, through the same checks whoever asks (API, rules, fleet). */
  writePoint(id: string, value: Parameters<PointWriter["write"]>[1]) {
    return this.pointWriter.write(id, value);
  }

  private requireOutbox(): SqliteOutbox {
    if (!this.outbox) throw new Error("store not started");
    return this.outbox;
  }

  private requireWriter(): StoreWriter {
    if (!this.writer) throw new Error("store not started");
    return this.writer;
  }

  private requireRules(): RulesService {
    if (!this.rules) throw new Error("rules not started");
    return this.rules;
  }

  private requirePipeline(): Pipeline {
    if (!this.pipeline) throw new Error("pipeline not started");
    return this.pipeline;
  }

  private storeComponent(): Component {
    const { config, logger } = this.options;
    const log = logger.child({ component: "store" });
    const store = config.store;
    return {
      name: "store",
      start: () => {
        const path = resolve(store.path ?? join(config.dataDir, "edge.db"));
        const outbox = openOutbox(
          {
            path,
            maxRows: store.maxRows,
            maxAgeMs: store.maxAgeS * 1000,
            synchronous: store.synchronous,
            maxBytes: store.maxBytes,
            history: { enabled: store.history.enabled, maxAgeMs: store.history.maxAgeS * 1000, maxBytes: store.history.maxBytes },
          },
          log,
        );
        this.outbox = outbox;
        const writer = new StoreWriter({
          outbox,
          logger: log,
          clock: this.clock,
          maxBuffered: store.memoryBuffer,
          retryMs: 2000,
          onStored: () => this.uplink?.kick(),
        });
        this.writer = writer;
        if (outbox.skippedSeqs) {
          log.warn(
            { skipped: outbox.skippedSeqs },
            "the store was not closed before the machine restarted (power cut?): the last moments' readings may be lost; seqs continue after every seq that could have been sent, so none is reused",
          );
        }
        const stats = outbox.stats();
        log.info({ path, pending: stats.pending, epoch: stats.epoch, lastSeq: stats.lastSeq, bytes: stats.bytes }, "store open");
        const drops = new DropReporter();
        const upkeep = () => {
          try {
            outbox.enforceBounds(this.clock());
          } catch (err) {
            log.error({ err: errorMessage(err) }, "applying store bounds failed");
          }
          // Every drop is reported upstream as an event (it waits in the outbox while the link is down).
          const { dropped } = outbox.stats();
          const event = drops.next({ ...dropped, memory: writer.status().droppedFromMemory }, this.clock());
          if (event) {
            log.warn({ event: event.json }, "records were dropped by a store bound");
            writer.append("event", [event]);
          }
        };
        upkeep();
        this.boundsTimer = setInterval(upkeep, this.options.upkeepMs ?? 10_000);
        this.boundsTimer.unref();
      },
      stop: () => {
        if (this.boundsTimer) clearInterval(this.boundsTimer);
        this.writer?.stop();
        const pending = this.outbox?.stats().pending;
        this.outbox?.close();
        log.info({ pending }, "store closed");
      },
    };
  }

  private uplinkComponent(): Component {
    const { config, logger } = this.options;
    return {
      name: "uplink",
      start: async () => {
        const mqtt = config.mqtt;
        if (!mqtt) {
          logger.warn({ component: "uplink" }, "no mqtt section in the config: data is stored but not sent");
          return;
        }
        const connection = {
          url: mqtt.url,
          clientId: mqtt.clientId ?? `edge-agent-${this.deviceId}`,
          username: mqtt.username,
          password: mqtt.password,
          tls: mqtt.tls && {
            ca: readPem(mqtt.tls.ca, "mqtt.tls.ca"),
            cert: readPem(mqtt.tls.cert, "mqtt.tls.cert"),
            key: readPem(mqtt.tls.key, "mqtt.tls.key"),
            rejectUnauthorized: mqtt.tls.rejectUnauthorized,
          },
          protocolVersion: mqtt.protocolVersion,
          keepaliveS: mqtt.keepaliveS,
          cleanSession: mqtt.cleanSession,
          sessionExpiryS: mqtt.sessionExpiryS,
        };
        const batching = {
          batchMaxSamples: mqtt.batch.maxSamples,
          batchMaxDelayMs: mqtt.batch.maxDelayMs,
          inflightBatches: mqtt.batch.inflight,
          backlogMaxPerS: mqtt.backlogMaxPerS,
          outbox: this.requireOutbox(),
          logger: logger.child({ component: "uplink" }),
          clock: this.clock,
        };
        // Sparkplug's protobuf codec loads only when that mode is configured (about 10 MB of RSS).
        const { SparkplugUplink } = mqtt.mode === "sparkplug" ? await import("../../edge/uplink/sparkplug/sparkplug-uplink.js") : { SparkplugUplink: null };
        this.uplink =
          SparkplugUplink && mqtt.sparkplug
            ? new SparkplugUplink({
                ...connection,
                ...batching,
                groupId: mqtt.sparkplug.groupId,
                edgeNodeId: mqtt.sparkplug.edgeNodeId ?? this.deviceId,
                dataDir: resolve(config.dataDir),
                devices: config.devices.map((d) => ({
                  deviceId: d.id,
                  metrics: (d.points as readonly PointBaseConfig[]).map((p) => ({ point: p.id, name: p.name ?? p.id, datatype: metricHint(p), unit: p.unit })),
                })),
              })
            : new MqttUplink({
                ...connection,
                ...batching,
                compress: mqtt.batch.compress,
                deferOnline: true,
                deviceId: this.deviceId,
                root: expandRoot(mqtt.topicRoot, this.deviceId),
              });
        this.uplink.start();
      },
      stop: () => this.uplink?.stop(),
    };
  }

  /** The pipeline exists before the rules (virtual points go through it) and the drivers. */
  private pipelineComponent(): Component {
    const { config, logger } = this.options;
    return {
      name: "pipeline",
      start: () => {
        this.pipeline = new Pipeline({
          points: config.devices.flatMap((d): readonly PointBaseConfig[] => d.points),
          outbox: this.requireWriter(),
          logger: logger.child({ component: "pipeline" }),
          commitDelayMs: config.store.commitDelayMs,
          // Every reading, scaled, before the deadband: a rule must not miss a value the store skips.
          onSamples: (samples) => this.rules?.onSamples(samples),
        });
      },
      // Commits what the rules set last, before the store closes.
      stop: () => this.pipeline?.flush(),
    };
  }

  private driversComponent(): Component {
    const { config, logger } = this.options;
    return {
      name: "drivers",
      start: async () => {
        const pipeline = this.requirePipeline();
        const shared = new SharedResources();
        const writable = new Map<string, WritablePoint>();
        for (const device of config.devices) {
          const log = logger.child({ component: "driver", device: device.id });
          // One device failing to start must not keep the others (or the agent) down.
          try {
            const driver = await createDriver(device, { logger: log, clock: this.clock, shared, dataDir: resolve(config.dataDir) });
            await driver.start((samples) => pipeline.process(samples));
            this.drivers.push(driver);
            for (const p of device.points) writable.set(p.id, { config: p, driver });
          } catch (err) {
            log.error({ err: errorMessage(err) }, "device could not be started; the others go on");
          }
        }
        this.pointWriter = new PointWriter(writable);
      },
      stop: async () => {
        await Promise.all(this.drivers.map((d) => d.stop()));
        // Commit what the drivers delivered last, before the store closes.
        this.pipeline?.flush();
      },
    };
  }

  private apiComponent(): Component {
    const { config, logger } = this.options;
    return {
      name: "api",
      start: async () => {
        if (!config.api.enabled) return;
        const { token, file } = loadOrCreateApiToken(resolve(config.dataDir));
        this.api = new ApiServer({
          host: config.api.host,
          port: config.api.port,
          logger: logger.child({ component: "api", tokenFile: file }),
          token,
          dataDir: resolve(config.dataDir),
          // The root logger, not the API's child: a level set here reaches every component.
          logLevel: logLevelControl(logger),
          status: () => this.status(),
          points: () => this.points(),
          devices: () => this.devices(),
          writePoint: (id, value) => this.writePoint(id, value),
          rules: this.requireRules(),
        });
        await this.api.start();
      },
      stop: () => this.api?.stop(),
    };
  }
}
