import { z } from "zod";
import { pointBaseSchema } from "../point-schema.js";
import { durationMs, identifier, intRange } from "../../schema-kit.js";
import { isBrowsePath, parseBrowsePath, parseNodeId } from "./node-id.js";

/**
 * The OPC UA device config. Light on purpose: it never imports node-opcua, so a config validates (and
 * a Modbus-only gateway runs) without loading the OPC UA stack; the driver is imported only when a
 * device uses it (see ../registry.ts).
 */

export const securityPolicies = ["None", "Basic256Sha256", "Aes128_Sha256_RsaOaep"] as const;
export const securityModes = ["None", "Sign", "SignAndEncrypt"] as const;
export type OpcuaSecurityPolicy = (typeof securityPolicies)[number];
export type OpcuaSecurityMode = (typeof securityModes)[number];

/** OPC UA built-in types a value can be written as (or passed to a method). */
export const opcuaDataTypes = ["Boolean", "SByte", "Byte", "Int16", "UInt16", "Int32", "UInt32", "Int64", "UInt64", "Float", "Double", "String", "DateTime"] as const;
export type OpcuaDataType = (typeof opcuaDataTypes)[number];

const nodeIdString = z.string().superRefine((text, ctx) => {
  const parsed = parseNodeId(text);
  if ("error" in parsed) ctx.addIssue({ code: "custom", input: text, message: `${parsed.error}, got "${text}"` });
});

const browsePathString = z.string().superRefine((text, ctx) => {
  const parsed = parseBrowsePath(text);
  if ("error" in parsed) ctx.addIssue({ code: "custom", input: text, message: parsed.error });
});

/** A node given either way: a NodeId (`ns=2;s=...`) or a browse path (`/2:Factory/...`). */
const nodeRef = z.string().superRefine((text, ctx) => {
  const parsed = isBrowsePath(text) ? parseBrowsePath(text) : parseNodeId(text);
  if ("error" in parsed) ctx.addIssue({ code: "custom", input: text, message: `${parsed.error} (a NodeId like ns=2;s=Oven1 or a browse path like /2:Factory/2:Oven1)` });
});

export const dataChangeFilterSchema = z
  .strictObject({
    type: z
      .enum(["absolute", "percent"])
      .describe("absolute: report a change larger than `value` in the server's units; percent: larger than `value` % of the variable's EURange (AnalogItems only)."),
    value: z.number().min(0).describe("The deadband: an amount (absolute) or a percentage 0..100 (percent)."),
    trigger: z
      .enum(["status", "statusValue", "statusValueTimestamp"])
      .default("statusValue")
      .describe("What counts as a change: the status only, status or value (default), or also the source timestamp."),
  })
  .superRefine((f, ctx) => {
    if (f.type === "percent" && f.value > 100) ctx.addIssue({ code: "custom", path: ["value"], input: f.value, message: `a percent deadband is 0..100, got ${f.value}` });
  })
  .describe("Server-side data-change filter of the monitored item: the server itself drops changes inside the deadband, which saves the network (unlike `deadband`, which the agent applies after scaling).");

export const opcuaPointSchema = pointBaseSchema
  .strict()
  .extend({
    nodeId: nodeIdString
      .optional()
      .describe("The variable's NodeId: ns=2;s=Line1.Oven1.Temperature, ns=2;i=1001, ns=2;g=<GUID>, ns=2;b=<base64>, or nsu=<namespace URI>;s=... . Give nodeId or browsePath."),
    browsePath: browsePathString
      .optional()
      .describe("The variable's browse path from the Objects folder, e.g. /2:Factory/2:Line1/2:Oven1/2:Temperature (resolved at each connection). Give nodeId or browsePath."),
    mode: z
      .enum(["subscribe", "poll"])
      .default("subscribe")
      .describe("subscribe: a monitored item in the device's subscription (the server reports changes); poll: read every pollMs (for servers or nodes that do not support monitoring well)."),
    samplingIntervalMs: durationMs(0, 86_400_000).optional().describe("How often the server samples this variable; default the device's subscription.samplingIntervalMs. 0 = as fast as the server can / on every change."),
    queueSize: intRange(1, 10_000).optional().describe("Values the server keeps for this item between publishes (default the device's subscription.queueSize)."),
    dataChangeFilter: dataChangeFilterSchema.optional(),
    pollMs: durationMs(10, 86_400_000).optional().describe("For mode poll: this point's own read interval instead of the device's pollMs."),
    dataType: z
      .enum(opcuaDataTypes)
      .optional()
      .describe("The OPC UA type a write sends. Default: the variable's DataType, read from the server at the first write."),
  })
  .superRefine((p, ctx) => {
    if ((p.nodeId === undefined) === (p.browsePath === undefined)) {
      ctx.addIssue({ code: "custom", path: [p.nodeId === undefined ? "nodeId" : "browsePath"], input: undefined, message: "give exactly one of nodeId and browsePath" });
    }
    if (p.mode === "poll") {
      for (const key of ["samplingIntervalMs", "queueSize", "dataChangeFilter"] as const) {
        if (p[key] !== undefined) ctx.addIssue({ code: "custom", path: [key], input: p[key], message: `${key} applies to mode subscribe, not poll` });
      }
    } else if (p.pollMs !== undefined) {
      ctx.addIssue({ code: "custom", path: ["pollMs"], input: p.pollMs, message: "pollMs applies to mode poll (a subscribed point uses samplingIntervalMs)" });
    }
  });

export type OpcuaPointConfig = z.output<typeof opcuaPointSchema>;

export const opcuaMethodSchema = z
  .strictObject({
    id: identifier("a method id").describe("Name the rules and the API call this method by, unique on the device."),
    object: nodeRef.describe("The object the method belongs to: a NodeId or a browse path."),
    method: nodeRef.describe("The method node: a NodeId or a browse path."),
    inputTypes: z
      .array(z.enum(opcuaDataTypes))
      .optional()
      .describe("The OPC UA types of the input arguments, in order. Default: read from the method's InputArguments on the server."),
  })
  .describe("An OPC UA method the rules and the API may call.");

export type OpcuaMethodConfig = z.output<typeof opcuaMethodSchema>;

const identitySchema = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("anonymous").describe("No user.") }),
    z.strictObject({
      type: z.literal("username").describe("User name and password (sent encrypted with the server's certificate)."),
      username: z.string().min(1).describe("User name."),
      password: z.string().describe("Password; write ${OPCUA_PASSWORD} to take it from the environment."),
    }),
    z.strictObject({
      type: z.literal("certificate").describe("An X.509 user certificate and its private key (PEM files)."),
      certificateFile: z.string().min(1).describe("The user certificate (PEM or DER)."),
      privateKeyFile: z.string().min(1).describe("Its private key (PEM)."),
    }),
  ])
  .default({ type: "anonymous" })
  .describe("Who the agent logs in as.");

export type OpcuaIdentityConfig = z.output<typeof identitySchema>;

const subscriptionSchema = z
  .strictObject({
    publishingIntervalMs: durationMs(10, 3_600_000).default(1000).describe("How often the server sends the changes it collected."),
    samplingIntervalMs: durationMs(0, 86_400_000).default(1000).describe("Default sampling interval of every subscribed point (a point's samplingIntervalMs overrides it)."),
    queueSize: intRange(1, 10_000).default(10).describe("Default per-item queue: values kept between two publishes, so fast changes are not lost."),
    keepAliveCount: intRange(1, 10_000).default(10).describe("Publishing intervals without change after which the server sends a keep-alive (subscription health)."),
    lifetimeCount: intRange(3, 100_000).default(100).describe("Publishing intervals without a client request after which the server drops the subscription (at least 3 x keepAliveCount)."),
    maxNotificationsPerPublish: intRange(0, 1_000_000).default(0).describe("Most notifications in one publish response (0 = no limit)."),
  })
  .superRefine((s, ctx) => {
    if (s.lifetimeCount < 3 * s.keepAliveCount) ctx.addIssue({ code: "custom", path: ["lifetimeCount"], input: s.lifetimeCount, message: `must be at least 3 x keepAliveCount (${3 * s.keepAliveCount})` });
  })
  .prefault({})
  .describe("The device's subscription.");

export const opcuaDeviceSchema = z
  .strictObject({
    protocol: z.literal("opcua").describe("OPC UA client (binary opc.tcp)."),
    id: identifier("a device id").describe("Device id, unique in this configuration."),
    endpointUrl: z
      .string()
      .regex(/^opc\.tcp:\/\/[^/\s:]+(:\d{1,5})?(\/\S*)?$/, { error: (iss) => `expected an endpoint URL like opc.tcp://192.168.10.20:4840, got ${JSON.stringify(iss.input)}` })
      .describe("The server's endpoint, e.g. opc.tcp://192.168.10.20:4840 or opc.tcp://plc:4840/UA/Server."),
    securityPolicy: z.enum(securityPolicies).default("None").describe("Security policy of the secure channel: None, Basic256Sha256 or Aes128_Sha256_RsaOaep."),
    securityMode: z.enum(securityModes).default("None").describe("None (policy None only), Sign or SignAndEncrypt."),
    identity: identitySchema,
    pkiDir: z
      .string()
      .min(1)
      .optional()
      .describe("PKI folder (own certificate and key, trusted/ and rejected/ server certificates). Default: {dataDir}/pki. Manage it with `edge-agent opcua certs`."),
    acceptUnknownServerCertificate: z
      .boolean()
      .default(false)
      .describe("Trust a server certificate seen for the first time (lab use only). By default it is refused and put in {pkiDir}/rejected until `edge-agent opcua certs trust` moves it."),
    applicationName: z.string().min(1).default("edge-agent").describe("The client's application name (in its certificate and in the server's session list)."),
    timeoutMs: durationMs(100, 600_000).default(10_000).describe("How long a request (read, write, call, connect) may take."),
    sessionTimeoutMs: durationMs(1000, 3_600_000).default(60_000).describe("How long the server keeps the session (and its subscription) across a network drop, so it can be resumed."),
    subscription: subscriptionSchema,
    pollMs: durationMs(10, 86_400_000).default(1000).describe("Read interval of points with mode poll (a point's pollMs overrides it)."),
    points: z.array(opcuaPointSchema).min(1).describe("What to read from this server."),
    methods: z.array(opcuaMethodSchema).default([]).describe("Methods the rules and the API may call."),
  })
  .superRefine((d, ctx) => {
    if ((d.securityPolicy === "None") !== (d.securityMode === "None")) {
      const path = d.securityPolicy === "None" ? "securityMode" : "securityPolicy";
      ctx.addIssue({
        code: "custom",
        path: [path],
        input: d[path],
        message: d.securityPolicy === "None" ? "securityPolicy None goes with securityMode None; choose Basic256Sha256 or Aes128_Sha256_RsaOaep to Sign" : "securityPolicy Basic256Sha256 / Aes128_Sha256_RsaOaep needs securityMode Sign or SignAndEncrypt",
      });
    }
    const seen = new Map<string, number>();
    d.methods.forEach((m, i) => {
      if (seen.has(m.id)) ctx.addIssue({ code: "custom", path: ["methods", i, "id"], input: m.id, message: `method id "${m.id}" is already used by methods[${seen.get(m.id)}]` });
      seen.set(m.id, i);
    });
  })
  .describe("An OPC UA server (PLC, gateway, SCADA).");

export type OpcuaDeviceConfig = z.output<typeof opcuaDeviceSchema>;
