import { readFileSync } from "node:fs";
import { z } from "zod";
import { canonicalBytes } from "./canonical-json.js";
import { OtaError } from "./errors.js";
import { sign, signatureSchema, zodIssues, type PrivateKey, type PublicKey, type Signature } from "./keys.js";
import { checkThreshold, distinctKeyCount, type Role, type ThresholdResult } from "./threshold.js";

/**
 * The root of trust (a simplified TUF root). It names the root keys, which may sign the next root,
 * and the release keys, which may sign release manifests, each with a threshold. A device ships with
 * one root and only ever moves forward one version at a time, so a leaked old key cannot be used to
 * jump straight to an attacker's root.
 *
 * File: {"signed": {...RootMetadata}, "signatures": [{keyid, sig}]}; signatures cover
 * canonicalJson(signed).
 */
const isoDate = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), "expected an ISO 8601 date-time");
const keyMap = z.record(
  z.string().min(1).max(128),
  z.string().refine((s) => /^[A-Za-z0-9+/]{43}=$/.test(s) && Buffer.from(s, "base64").length === 32, "expected a base64 Ed25519 public key"),
);
const roleSchema = z.strictObject({ keys: keyMap, threshold: z.number().int().min(1).max(1000) });

export const rootMetadataSchema = z.strictObject({
  type: z.literal("root"),
  version: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  expires: isoDate,
  root: roleSchema,
  release: roleSchema,
});

export const signedRootSchema = z.strictObject({ signed: rootMetadataSchema, signatures: z.array(signatureSchema).max(1000) });

export type RootMetadata = z.infer<typeof rootMetadataSchema>;
export type RoleMetadata = RootMetadata["root"];
export interface SignedRoot {
  signed: RootMetadata;
  signatures: Signature[];
}

export function roleOf(meta: RoleMetadata): Role {
  return { keys: new Map(Object.entries(meta.keys).map(([id, k]) => [id, new Uint8Array(Buffer.from(k, "base64"))])), threshold: meta.threshold };
}

function roleFromKeys(keys: readonly PublicKey[], threshold: number, what: string): RoleMetadata {
  const role: RoleMetadata = { keys: Object.fromEntries(keys.map((k) => [k.keyid, Buffer.from(k.publicKey).toString("base64")])), threshold };
  const distinct = distinctKeyCount(roleOf(role));
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > distinct) {
    throw new OtaError("OTA_ROOT_INVALID", `${what} threshold must be 1..${distinct} (the number of distinct ${what} keys), got ${threshold}`);
  }
  return role;
}

export interface NewRootOptions {
  version: number;
  expires: Date;
  rootKeys: readonly PublicKey[];
  rootThreshold: number;
  releaseKeys: readonly PublicKey[];
  releaseThreshold: number;
}

/** Builds unsigned root metadata; refuses a threshold that could never be met. */
export function createRoot(o: NewRootOptions): SignedRoot {
  if (!Number.isSafeInteger(o.version) || o.version < 1) throw new OtaError("OTA_ROOT_INVALID", `root version must be a positive integer, got ${o.version}`);
  const signed: RootMetadata = {
    type: "root",
    version: o.version,
    expires: o.expires.toISOString(),
    root: roleFromKeys(o.rootKeys, o.rootThreshold, "root"),
    release: roleFromKeys(o.releaseKeys, o.releaseThreshold, "release"),
  };
  return { signed, signatures: [] };
}

/** Adds `key`'s signature (replacing an earlier one by the same keyid, so signing twice is harmless). */
export function signRoot(root: SignedRoot, key: PrivateKey): SignedRoot {
  const sig = sign(canonicalBytes(root.signed), key);
  return { signed: root.signed, signatures: [...root.signatures.filter((s) => s.keyid !== key.keyid), sig] };
}

export function parseRoot(json: unknown, what = "root"): SignedRoot {
  const parsed = signedRootSchema.safeParse(json);
  if (!parsed.success) throw new OtaError("OTA_ROOT_INVALID", `${what} is not a valid root: ${zodIssues(parsed.error)}`);
  for (const name of ["root", "release"] as const) {
    const role = parsed.data.signed[name];
    const distinct = distinctKeyCount(roleOf(role));
    if (role.threshold > distinct) throw new OtaError("OTA_ROOT_INVALID", `${what}: ${name} threshold ${role.threshold} exceeds its ${distinct} distinct key(s); it could never be met`);
  }
  return parsed.data;
}

export function readRootFile(file: string): SignedRoot {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new OtaError("OTA_ROOT_INVALID", `cannot read root ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseRoot(json, file);
}

export function encodeRootFile(root: SignedRoot): string {
  return JSON.stringify(root, null, 2) + "\n";
}

function describeThreshold(r: ThresholdResult): string {
  const extra = [r.badKeyids.length ? `${r.badKeyids.length} invalid` : "", r.unknownKeyids.length ? `${r.unknownKeyids.length} by unknown keys` : ""].filter(Boolean).join(", ");
  return `${r.validKeyids.length} valid of ${r.threshold} required${extra ? ` (${extra})` : ""}`;
}

/**
 * Checks that `next` may replace `current`: exactly the next version, signed by a threshold of the
 * current root keys (the old owners agree) AND a threshold of its own root keys (the new owners hold
 * their keys, so a typo cannot brick the chain). Returns a line saying what was checked.
 */
export function checkRootStep(current: RootMetadata, next: SignedRoot): string {
  const v = next.signed.version;
  if (v !== current.version + 1) {
    throw new OtaError("OTA_ROOT_VERSION", `root version ${v} cannot follow version ${current.version}: roots are accepted one version at a time (expected ${current.version + 1})`);
  }
  const message = canonicalBytes(next.signed);
  const byOld = checkThreshold(message, next.signatures, roleOf(current.root));
  if (!byOld.met) throw new OtaError("OTA_ROOT_SIGNATURE", `root v${v} is not signed by enough keys of root v${current.version}: ${describeThreshold(byOld)}`);
  const byNew = checkThreshold(message, next.signatures, roleOf(next.signed.root));
  if (!byNew.met) throw new OtaError("OTA_ROOT_SIGNATURE", `root v${v} is not signed by enough of its own root keys: ${describeThreshold(byNew)}`);
  return `root v${v}: signed by ${byOld.validKeyids.length}/${byOld.threshold} keys of v${current.version} and ${byNew.validKeyids.length}/${byNew.threshold} of its own`;
}

export interface RootChainResult {
  /** The newest root reached: its release keys are the ones to trust. */
  root: SignedRoot;
  /** One line per check, for logs and `release verify`. */
  steps: string[];
}

/**
 * Walks from the trusted root through `newer` roots, one version at a time. Roots at or below the
 * trusted version are skipped (a fleet server may send the whole chain). Intermediate roots may have
 * expired since (a device offline for a year must still be able to catch up), but the newest root must
 * not: an expired root means the fleet's keys were not maintained and nothing it signs is accepted.
 */
export function walkRootChain(trusted: SignedRoot, newer: readonly SignedRoot[], now: Date): RootChainResult {
  let current = trusted;
  const steps: string[] = [`root v${trusted.signed.version}: trusted (shipped with the device)`];
  for (const next of newer) {
    if (next.signed.version <= current.signed.version) continue;
    steps.push(checkRootStep(current.signed, next));
    current = next;
  }
  const expires = Date.parse(current.signed.expires);
  if (!(now.getTime() < expires)) throw new OtaError("OTA_ROOT_EXPIRED", `root v${current.signed.version} expired on ${current.signed.expires}; a new root signed by the root keys is needed`);
  steps.push(`root v${current.signed.version}: not expired (until ${current.signed.expires})`);
  return { root: current, steps };
}
