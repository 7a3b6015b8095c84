import { z } from "zod";
import { crossDeviceChecks, deviceSchemas } from "../../edge/drivers/registry.js";
import { byteSize, durationMs, identifier, intRange } from "../../edge/schema-kit.js";
import { sparkplugConfigSchema } from "../../edge/uplink/sparkplug/config.js";
import { rulesConfigSchema, virtualPointsSchema } from "../../edge/rules/schema.js";

/**
 * The configuration file's schema: the single source of field names. The TypeScript types, the
 * published JSON Schema (agent/config/edge-agent.schema.json) and the docs all come from here.
 */

export const CONFIG_VERSION = 1;

const deviceSchema = z.discriminatedUnion("protocol", [...deviceSchemas]);

export const mqttSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(mqtts?|wss?|tcp|ssl):\/\/./, { error: (iss) => `expected a broker URL like mqtt://host:1883, got ${JSON.stringify(iss.input)}` })
      .describe("Broker URL: mqtt://host:1883 or mqtts://host:8883."),
    clientId: z.string().min(1).optional().describe("MQTT client id. Default: edge-agent-{deviceId}."),
    username: z.string().optional().describe("Broker user name."),
    password: z.string().optional().describe("Broker password."),
    tls: z
      .strictObject({
        ca: z.string().min(1).optional().describe("PEM file of the CA that signed the broker's certificate (default: the system's CAs)."),
        cert: z.string().min(1).optional().describe("PEM file of this gateway's client certificate, for brokers that require one (mTLS)."),
        key: z.string().min(1).optional().describe("PEM file of the client certificate's private key."),
        rejectUnauthorized: z.boolean().default(true).describe("Refuse a broker whose certificate does not verify. Turn off only for a lab broker."),
      })
      .optional()
      .describe("TLS for mqtts:// URLs: which CA to trust and the client certificate for mutual TLS."),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4).describe("4 = MQTT 3.1.1, 5 = MQTT 5."),
    keepaliveS: intRange(0, 65535).default(30).describe("Keep-alive interval in seconds (0 disables it)."),
    mode: z
      .enum(["json", "sparkplug"])
      .default("json")
      .describe("json = edge-agent's JSON batches under topicRoot; sparkplug = Sparkplug B 3.0 (needs the sparkplug section)."),
    sparkplug: sparkplugConfigSchema.optional(),
    cleanSession: z
      .boolean()
      .default(true)
      .describe("false = a persistent session: the broker keeps subscriptions and queued commands while the gateway is away. Telemetry never depends on it (the outbox keeps it)."),
    sessionExpiryS: intRange(0, 4_294_967_295).default(86_400).describe("MQTT 5 with cleanSession false: how long the broker keeps the session after a disconnect."),
    backlogMaxPerS: intRange(0, 10_000_000)
      .default(0)
      .describe("Most backlog samples sent per second after an outage (0 = as fast as the broker acknowledges). Live data and alarms go first either way."),
    topicRoot: z
      .string()
      .min(1)
      .default("edge/{deviceId}")
      .describe("Root of every topic this device uses; {deviceId} is replaced by the device id."),
    batch: z
      .strictObject({
        maxSamples: intRange(1, 100_000).default(500).describe("Most samples in one MQTT message."),
        maxDelayMs: durationMs(0, 600_000).default(1000).describe("Longest a stored sample waits for its batch to fill."),
        inflight: intRange(1, 64).default(8).describe("Batches published and awaiting the broker's acknowledgement at once."),
        compress: z.boolean().default(false).describe("gzip each message (payload starts with the gzip bytes 1f 8b; MQTT 5 also sets contentType application/json+gzip)."),
      })
      .prefault({})
      .describe("How samples are grouped into messages."),
  })
  .superRefine((m, ctx) => {
    if (m.tls && !/^(mqtts|wss|ssl):/.test(m.url)) ctx.addIssue({ code: "custom", path: ["tls"], message: "tls applies to mqtts:// (or wss://) URLs" });
    if (m.tls && Boolean(m.tls.cert) !== Boolean(m.tls.key)) ctx.addIssue({ code: "custom", path: ["tls"], message: "a client certificate needs both cert and key" });
    if (m.mode === "sparkplug" && !m.sparkplug) ctx.addIssue({ code: "custom", path: ["sparkplug"], message: 'mode "sparkplug" needs a sparkplug section with at least groupId' });
  })
  .describe("The MQTT uplink. Without it, data is stored locally and sent once a broker is configured.");

const provisioningSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^https?:\/\/./, { error: (iss) => `expected the fleet server's URL like https://fleet.plant.local, got ${JSON.stringify(iss.input)}` })
      .describe("Fleet server base URL; the agent sends its claim to {url}/provision."),
    claimToken: z
      .string()
      .min(8, "a claim token has at least 8 characters")
      .max(256)
      .describe("One-time claim token for this gateway (keep it out of the file: claimToken: ${EDGE_CLAIM_TOKEN})."),
    timeoutMs: durationMs(1000, 120_000).default(10_000).describe("How long one attempt to reach the fleet server may take at start."),
  })
  .optional()
  .describe(
    "Zero-touch provisioning: with no stored credentials ({dataDir}/provisioning.json), the agent presents the claim token, its id and public key to the fleet server and keeps the group and MQTT credentials it gets back. The provisioned mqtt url, username and password take precedence over the mqtt section; every other mqtt field still comes from this file.",
  );

const storeSchema = z
  .strictObject({
    path: z.string().min(1).optional().describe("SQLite database file. Default: {dataDir}/edge.db."),
    maxRows: intRange(1000, 1_000_000_000).default(5_000_000).describe("Most records kept in the outbox; the oldest telemetry is dropped beyond it."),
    maxAgeS: intRange(0, 10 * 365 * 86_400).default(7 * 86_400).describe("Telemetry older than this many seconds is dropped from the outbox; 0 keeps it forever."),
    commitDelayMs: intRange(0, 1000)
      .default(20)
      .describe("Readings arriving within this many ms are committed in one transaction (0 = each driver batch on its own). A reading counts as stored once committed."),
    synchronous: z
      .enum(["normal", "full"])
      .default("normal")
      .describe("SQLite durability: full = a power cut loses nothing committed; normal (WAL) = may lose the last moments before a power cut, never corrupts, much faster."),
    maxBytes: byteSize(1024 ** 4)
      .default(1024 ** 3)
      .describe("Disk the database may use, outbox and history together (0 = no bound). Near it the oldest history goes first, then the oldest telemetry; events and alarms last."),
    memoryBuffer: intRange(0, 10_000_000)
      .default(100_000)
      .describe("Records kept in memory while the disk refuses writes (full, read-only); the newest are kept and committed once the disk recovers."),
    history: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Keep samples after delivery, for rule dry runs and charts."),
        maxAgeS: intRange(0, 10 * 365 * 86_400).default(7 * 86_400).describe("History older than this many seconds is deleted; 0 keeps it until maxBytes."),
        maxBytes: byteSize(1024 ** 4).default(256 * 1024 ** 2).describe("Bytes of history kept, oldest deleted first (0 = bounded only by store.maxBytes)."),
      })
      .prefault({})
      .describe("The local history of samples, in the same database."),
  })
  .prefault({})
  .describe("The local store-and-forward database.");

const apiSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Serve the local HTTP API."),
    host: z.string().min(1).default("127.0.0.1").describe("Address to listen on. Keep 127.0.0.1 unless the API must be reached from the network."),
    port: intRange(0, 65535).default(8080).describe("TCP port (0 = any free port)."),
  })
  .prefault({})
  .describe("The local HTTP API.");

const otaSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Take signed updates offered on {topicRoot}/ota/offer (and group topics). Needs installRoot and trustRoot; the agent must run under `edge-agent supervise`."),
    installRoot: z.string().min(1).default("/opt/edge-agent").describe("Where releases are installed side by side (releases/<version>, current, previous)."),
    trustRoot: z.string().min(1).optional().describe("The root of trust the device shipped with (root.json from `edge-agent keys root`)."),
    groups: z.array(identifier("a device group")).default([]).describe("Device groups this gateway belongs to: offers on edge/groups/{group}/ota/offer and manifests targeting them."),
  })
  .prefault({})
  .superRefine((o, ctx) => {
    if (o.enabled && !o.trustRoot) ctx.addIssue({ code: "custom", path: ["trustRoot"], message: "ota.enabled needs trustRoot (the device's root.json)" });
  })
  .describe("Over-the-air updates: signed releases verified before anything is unpacked (agent/ota/README.md).");

const commandsSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe("Accept fleet commands on {topicRoot}/cmd/{name} (write, ack, reload-rules). false = nothing is subscribed."),
  })
  .prefault({})
  .describe("The fleet command channel over MQTT (JSON mode). Payloads: agent/commands/commands.schema.json.");

export const configSchema = z
  .strictObject({
    $schema: z.string().optional().describe("JSON Schema reference for editors; ignored by the agent."),
    version: z.literal(CONFIG_VERSION, {
      error: (iss) => `expected config version ${CONFIG_VERSION}, got ${JSON.stringify(iss.input)}`,
    }).describe("Format version of this file."),
    device: z
      .strictObject({
        id: identifier("a device id")
          .optional()
          .describe("This gateway's id in topics and the fleet. Default: derived from its identity key."),
        name: z.string().optional().describe("Human-readable name."),
      })
      .prefault({})
      .describe("This gateway."),
    dataDir: z.string().min(1).default("./data").describe("Folder for the database, identity key and state (relative to the working directory)."),
    log: z
      .strictObject({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info").describe("Log level; --log-level overrides it."),
      })
      .prefault({})
      .describe("Logging."),
    mqtt: mqttSchema.optional(),
    provisioning: provisioningSchema,
    store: storeSchema,
    api: apiSchema,
    devices: z.array(deviceSchema).default([]).describe("The machines this gateway reads."),
    virtualPoints: virtualPointsSchema.default([]),
    rules: rulesConfigSchema.default([]),
    commands: commandsSchema,
    ota: otaSchema,
  })
  .superRefine((cfg, ctx) => {
    const seenDevices = new Map<string, number>();
    const seenPoints = new Map<string, string>();
    cfg.devices.forEach((device, d) => {
      const prev = seenDevices.get(device.id);
      if (prev !== undefined) {
        ctx.addIssue({ code: "custom", path: ["devices", d, "id"], input: device.id, message: `duplicate device id "${device.id}" (also devices[${prev}])` });
      }
      seenDevices.set(device.id, d);
      device.points.forEach((point, p) => {
        const where = seenPoints.get(point.id);
        if (where !== undefined) {
          ctx.addIssue({ code: "custom", path: ["devices", d, "points", p, "id"], input: point.id, message: `duplicate point id "${point.id}" (also ${where})` });
        }
        seenPoints.set(point.id, `devices[${d}].points[${p}]`);
      });
    });
    cfg.virtualPoints.forEach((v, i) => {
      const where = seenPoints.get(v.id);
      if (where !== undefined) {
        ctx.addIssue({ code: "custom", path: ["virtualPoints", i, "id"], input: v.id, message: `virtual point "${v.id}" has the id of a device point (${where})` });
      }
      seenPoints.set(v.id, `virtualPoints[${i}]`);
    });
    for (const check of crossDeviceChecks) {
      for (const problem of check(cfg.devices)) {
        ctx.addIssue({ code: "custom", path: ["devices", problem.device, ...problem.path], message: problem.message });
      }
    }
  })
  .describe("edge-agent configuration.");

export type AgentConfig = z.output<typeof configSchema>;
export type MqttConfig = NonNullable<AgentConfig["mqtt"]>;
export type ProvisioningConfig = NonNullable<AgentConfig["provisioning"]>;
