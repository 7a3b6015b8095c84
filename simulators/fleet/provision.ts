/**
 * Zero-touch provisioning with one-time claim tokens. A gateway presents a token (printed on the box,
 * or put in its image) with its device id and identity public key, and receives its group and MQTT
 * credentials. A token works once: a reused token is 409, an unknown one 403.
 *
 * Proof of possession (optional, `requireProof`): the device first fetches a nonce
 * (`GET /provision/nonce`) and signs `edge-agent-provision:v1:{nonce}:{deviceId}` with its identity
 * key. Without it, whoever copies a token first can enrol any public key in the device's name; with
 * it, the fleet knows the key it records is really held by the caller, and a captured request cannot
 * be replayed (the nonce is single use and expires). It stays optional because the provisioning
 * contract is `{claimToken, deviceId, publicKey}` and the token alone already limits enrolment to
 * one device per token.
 */
import { createPublicKey, randomBytes, verify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { EdgeError, errorMessage } from "../../edge/errors.js";

const group = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "expected a group name");
export const claimTokenSchema = z.strictObject({
  token: z.string().min(8, "a claim token needs at least 8 characters").max(256),
  /** The device's group once provisioned; default "default". */
  group: group.optional(),
});
export type ClaimToken = z.infer<typeof claimTokenSchema>;
/** A claim token file: `{"tokens": [...]}` or just the array. */
export const claimTokenFileSchema = z.union([z.strictObject({ tokens: z.array(claimTokenSchema) }), z.array(claimTokenSchema)]);

export const provisionRequestSchema = z.strictObject({
  claimToken: z.string().min(1).max(256),
  deviceId: z.string().regex(/^[^/#+\s]{1,128}$/, "expected a device id (no '/', '#', '+' or spaces)"),
  /** Ed25519 public key, base64: SPKI DER (as agent/identity stores it) or the raw 32 bytes. */
  publicKey: z.string().min(1).max(1024),
  nonce: z.string().optional(),
  /** base64 Ed25519 signature over proofMessage(nonce, deviceId). */
  signature: z.string().optional(),
});
export type ProvisionRequest = z.infer<typeof provisionRequestSchema>;

export interface ProvisionResult {
  group: string;
  mqtt: { url: string; username: string; password: string };
}

export interface ProvisionedDevice {
  deviceId: string;
  group: string;
  publicKey: string;
  provisionedAt: string;
  username: string;
}

/** An HTTP-shaped refusal: the API sends `status` with `{error: message}`. */
export class ProvisionError extends EdgeError {
  constructor(
    readonly status: 400 | 401 | 403 | 409,
    message: string,
  ) {
    super("FLEET_PROVISION", message);
  }
}

export function proofMessage(nonce: string, deviceId: string): Buffer {
  return Buffer.from(`edge-agent-provision:v1:${nonce}:${deviceId}`, "utf8");
}

const RAW_ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function parseDevicePublicKey(b64: string): KeyObject {
  const raw = Buffer.from(b64, "base64");
  const der = raw.length === 32 ? Buffer.concat([RAW_ED25519_SPKI_PREFIX, raw]) : raw;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch (err) {
    throw new ProvisionError(400, `publicKey is not a base64 Ed25519 public key (SPKI DER or 32 raw bytes): ${errorMessage(err)}`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new ProvisionError(400, `publicKey is a ${key.asymmetricKeyType ?? "unknown"} key; an Ed25519 key is expected`);
  return key;
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ format: "der", type: "spki" });
}

export interface ProvisionerOptions {
  /** The broker URL handed to devices. */
  mqttUrl: string;
  requireProof?: boolean;
  nonceTtlMs?: number;
  /** Unspent nonces kept at most (default 10 000); the oldest go first. */
  maxNonces?: number;
  clock?: () => number;
  /** Called after a successful provisioning (the fleet records the device and its group). */
  onProvisioned?: (device: ProvisionedDevice) => void;
}

interface TokenState extends ClaimToken {
  usedAt?: number;
  usedBy?: string;
}

export class Provisioner {
  private readonly tokens = new Map<string, TokenState>();
  private readonly nonces = new Map<string, number>();
  private readonly devices = new Map<string, ProvisionedDevice>();
  private readonly clock: () => number;

  constructor(private readonly options: ProvisionerOptions) {
    this.clock = options.clock ?? Date.now;
  }

  get requireProof(): boolean {
    return this.options.requireProof === true;
  }

  /** Adds tokens; a token already known keeps its state (a used token is not revived). Returns how many are new. */
  addTokens(tokens: ClaimToken[]): number {
    let added = 0;
    for (const t of tokens) {
      if (this.tokens.has(t.token)) continue;
      this.tokens.set(t.token, { ...t });
      added++;
    }
    return added;
  }

  loadTokenFile(file: string): number {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new EdgeError("FLEET_CLAIM_TOKENS", `cannot read claim tokens from ${file}: ${errorMessage(err)}`, { cause: err });
    }
    const parsed = claimTokenFileSchema.safeParse(json);
    if (!parsed.success) throw new EdgeError("FLEET_CLAIM_TOKENS", `${file}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
    return this.addTokens(Array.isArray(parsed.data) ? parsed.data : parsed.data.tokens);
  }

  /** Token counts only: tokens are secrets and never leave through the API. */
  tokenSummary(): { total: number; used: number } {
    let used = 0;
    for (const t of this.tokens.values()) if (t.usedAt !== undefined) used++;
    return { total: this.tokens.size, used };
  }

  nonce(): { nonce: string; expiresAt: string } {
    const now = this.clock();
    for (const [n, exp] of this.nonces) if (exp <= now) this.nonces.delete(n);
    // GET /provision/nonce needs no authentication: without a cap, anyone could grow this map until the
    // process runs out of memory. The oldest unspent nonces make room (Map keeps insertion order).
    const max = this.options.maxNonces ?? 10_000;
    for (const n of this.nonces.keys()) {
      if (this.nonces.size < max) break;
      this.nonces.delete(n);
    }
    const nonce = randomBytes(18).toString("base64url");
    const exp = now + (this.options.nonceTtlMs ?? 300_000);
    this.nonces.set(nonce, exp);
    return { nonce, expiresAt: new Date(exp).toISOString() };
  }

  provisioned(): ProvisionedDevice[] {
    return [...this.devices.values()];
  }

  /** Throws ProvisionError; the token is spent only on success (a bad proof does not burn it). */
  provision(request: unknown): ProvisionResult {
    const parsed = provisionRequestSchema.safeParse(request);
    if (!parsed.success) throw new ProvisionError(400, `bad provisioning request: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
    const req = parsed.data;
    const token = this.tokens.get(req.claimToken);
    if (token === undefined) throw new ProvisionError(403, "unknown claim token: check the token printed for this gateway");
    if (token.usedAt !== undefined) {
      throw new ProvisionError(409, `claim token already used (at ${new Date(token.usedAt).toISOString()}); a claim token provisions one device once, ask for a new one`);
    }
    const key = parseDevicePublicKey(req.publicKey);
    // A spare (or stolen) claim token must not take over a device that is already registered: the new
    // key would replace the real gateway's identity. Same key again is a harmless re-provisioning.
    const existing = this.devices.get(req.deviceId);
    if (existing !== undefined && !spkiOf(parseDevicePublicKey(existing.publicKey)).equals(spkiOf(key))) {
      throw new ProvisionError(409, `device ${req.deviceId} is already provisioned with another public key; remove it from the fleet first to re-enrol it`);
    }
    if (this.requireProof || req.signature !== undefined || req.nonce !== undefined) this.checkProof(req, key);
    const now = this.clock();
    token.usedAt = now;
    token.usedBy = req.deviceId;
    const group = token.group ?? "default";
    const password = randomBytes(24).toString("base64url");
    const device: ProvisionedDevice = { deviceId: req.deviceId, group, publicKey: req.publicKey, provisionedAt: new Date(now).toISOString(), username: req.deviceId };
    this.devices.set(req.deviceId, device);
    this.options.onProvisioned?.(device);
    return { group, mqtt: { url: this.options.mqttUrl, username: req.deviceId, password } };
  }

  private checkProof(req: ProvisionRequest, key: KeyObject): void {
    if (req.nonce === undefined || req.signature === undefined) throw new ProvisionError(401, "this fleet requires proof of the device key: GET /provision/nonce, sign it and send nonce and signature");
    const exp = this.nonces.get(req.nonce);
    if (exp === undefined || exp <= this.clock()) throw new ProvisionError(401, "unknown or expired nonce: fetch a new one from GET /provision/nonce");
    this.nonces.delete(req.nonce); // single use, even when the signature turns out wrong
    let ok = false;
    try {
      ok = verify(null, proofMessage(req.nonce, req.deviceId), key, Buffer.from(req.signature, "base64"));
    } catch {
      ok = false;
    }
    if (!ok) throw new ProvisionError(401, "the signature over the nonce does not verify with publicKey");
  }
}
