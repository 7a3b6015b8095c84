/**
 * Zero-touch provisioning: a gateway with a claim token (printed on the box, or baked into its image)
 * introduces itself to the fleet server once and keeps what it gets back (its group and MQTT
 * credentials) in {dataDir}/provisioning.json. The fleet contract is `POST {url}/provision` with
 * `{claimToken, deviceId, publicKey}`; a server that wants proof of the key answers 401, and the agent
 * then signs a nonce from `GET {url}/provision/nonce` with its identity key (simulators/fleet/README.md).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import type { Logger } from "../../edge/logger.js";
import { writeFileAtomic } from "../ota/atomic-file.js";
import { mqttSchema, type AgentConfig, type ProvisioningConfig } from "../config/schema.js";
import { loadOrCreateIdentity, matchFolderOwner, signWithIdentity } from "./identity.js";

const answerSchema = z.object({
  group: z.string().min(1),
  mqtt: z.object({ url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\/./), username: z.string(), password: z.string() }),
});

const recordSchema = answerSchema.extend({
  version: z.literal(1),
  deviceId: z.string(),
  publicKey: z.string(),
  fleetUrl: z.string(),
  provisionedAt: z.string(),
});

/** What {dataDir}/provisioning.json holds (mode 0600: the MQTT password is in it). */
export type ProvisioningRecord = z.infer<typeof recordSchema>;

/**
 * Codes: PROVISION_REFUSED (the fleet said no: `status` 400/401/403/409), PROVISION_UNREACHABLE
 * (network, timeout, not an answer we understand), PROVISION_FILE (the stored record is unreadable).
 */
export class ProvisioningError extends EdgeError {
  constructor(
    code: "PROVISION_REFUSED" | "PROVISION_UNREACHABLE" | "PROVISION_FILE",
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export function provisioningFile(dataDir: string): string {
  return join(resolve(dataDir), "provisioning.json");
}

/** The stored record, or null when this gateway was never provisioned. */
export function readProvisioning(dataDir: string): ProvisioningRecord | null {
  const file = provisioningFile(dataDir);
  if (!existsSync(file)) return null;
  try {
    return recordSchema.parse(JSON.parse(readFileSync(file, "utf8")));
  } catch (err) {
    throw new ProvisioningError("PROVISION_FILE", `${file} is not a provisioning record (${errorMessage(err)}); remove it to provision again`, undefined, { cause: err });
  }
}

export interface ProvisionOptions {
  provisioning: ProvisioningConfig;
  dataDir: string;
  /** config.device.id; the identity's derived id when absent. */
  deviceId?: string;
  now?: () => Date;
}

/** Claims this gateway at the fleet server and stores the answer atomically. Throws ProvisioningError. */
export async function provisionDevice(o: ProvisionOptions): Promise<ProvisioningRecord> {
  const dataDir = resolve(o.dataDir);
  const identity = loadOrCreateIdentity(dataDir);
  const deviceId = o.deviceId ?? identity.derivedId;
  const base = o.provisioning.url.replace(/\/+$/, "");
  const body = { claimToken: o.provisioning.claimToken, deviceId, publicKey: identity.publicKey };
  let res = await call(`${base}/provision`, "POST", body, o.provisioning.timeoutMs);
  if (res.status === 401) {
    // The fleet wants proof that we hold the key we register: sign its nonce and try once more.
    const n = await call(`${base}/provision/nonce`, "GET", undefined, o.provisioning.timeoutMs);
    const nonce = (n.json as { nonce?: unknown } | null)?.nonce;
    if (n.status !== 200 || typeof nonce !== "string") throw new ProvisioningError("PROVISION_UNREACHABLE", `${base}/provision/nonce answered HTTP ${n.status} without a nonce`);
    const signature = signWithIdentity(dataDir, Buffer.from(`edge-agent-provision:v1:${nonce}:${deviceId}`, "utf8")).toString("base64");
    res = await call(`${base}/provision`, "POST", { ...body, nonce, signature }, o.provisioning.timeoutMs);
  }
  if (res.status !== 200) {
    const why = (res.json as { error?: unknown } | null)?.error;
    const reason = typeof why === "string" ? why : `HTTP ${res.status}`;
    const hint = res.status === 409 ? " (this token was already used: ask the fleet operator for a new one)" : res.status === 403 ? " (the fleet does not know this token: check provisioning.claimToken)" : "";
    if (res.status >= 400 && res.status < 500) throw new ProvisioningError("PROVISION_REFUSED", `the fleet server refused the claim for ${deviceId}: ${reason}${hint}`, res.status);
    throw new ProvisioningError("PROVISION_UNREACHABLE", `the fleet server answered ${reason} to the claim for ${deviceId}`, res.status);
  }
  const answer = answerSchema.safeParse(res.json);
  if (!answer.success) throw new ProvisioningError("PROVISION_UNREACHABLE", `the fleet server's answer is not {group, mqtt:{url,username,password}}: ${answer.error.issues[0]?.message ?? ""}`);
  const record: ProvisioningRecord = {
    version: 1,
    deviceId,
    publicKey: identity.publicKey,
    fleetUrl: base,
    group: answer.data.group,
    mqtt: answer.data.mqtt,
    provisionedAt: (o.now?.() ?? new Date()).toISOString(),
  };
  const file = provisioningFile(dataDir);
  // Atomic and 0600: a power cut leaves the old state or the whole record, and only the service user reads the password.
  writeFileAtomic(file, JSON.stringify(record, null, 2) + "\n", 0o600);
  matchFolderOwner(file, dataDir);
  return record;
}

/** The config with the provisioned broker url and credentials in place of the mqtt section's. */
export function applyProvisioning(config: AgentConfig, record: ProvisioningRecord): AgentConfig {
  const { url, username, password } = record.mqtt;
  const mqtt = config.mqtt ? { ...config.mqtt, url, username, password } : mqttSchema.parse({ url, username, password });
  return { ...config, mqtt };
}

/**
 * The start-up hook: with a provisioning section, use the stored record or claim one now. Any failure
 * is logged and the agent runs on the config as written (local storage at least): a refused token
 * must not turn into a crash loop under systemd. The next start (or `edge-agent provision`) tries again.
 */
export async function ensureProvisioned(config: AgentConfig, logger: Logger): Promise<AgentConfig> {
  if (!config.provisioning) return config;
  const log = logger.child({ component: "provisioning" });
  try {
    const stored = readProvisioning(config.dataDir);
    if (stored) {
      log.info({ deviceId: stored.deviceId, group: stored.group, broker: stored.mqtt.url, since: stored.provisionedAt }, "using stored provisioning");
      return applyProvisioning(config, stored);
    }
    log.info({ fleet: config.provisioning.url }, "no stored credentials: claiming this gateway at the fleet server");
    const record = await provisionDevice({ provisioning: config.provisioning, dataDir: config.dataDir, deviceId: config.device.id });
    log.info({ deviceId: record.deviceId, group: record.group, broker: record.mqtt.url, file: provisioningFile(config.dataDir) }, "provisioned");
    return applyProvisioning(config, record);
  } catch (err) {
    const code = err instanceof EdgeError ? err.code : "PROVISION_FAILED";
    log.error({ code, err: errorMessage(err) }, "provisioning failed; running with the config's own mqtt section (data is stored locally until a broker is reachable)");
    return config;
  }
}

interface HttpAnswer {
  status: number;
  json: unknown;
}

async function call(url: string, method: "GET" | "POST", body: unknown, timeoutMs: number): Promise<HttpAnswer> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
    throw new ProvisioningError("PROVISION_UNREACHABLE", `cannot reach the fleet server at ${url}: ${errorMessage(err)}${cause}`, undefined, { cause: err });
  }
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: res.status, json };
}
