import { readFileSync } from "node:fs";
import { z } from "zod";
import { canonicalBytes, parseCanonical } from "./canonical-json.js";
import { OtaError } from "./errors.js";
import { sign, signatureSchema, zodIssues, type PrivateKey, type Signature } from "./keys.js";
import { isSemver } from "./semver.js";

export const PLATFORMS = ["linux-arm64", "linux-x64", "any"] as const;
export type Platform = (typeof PLATFORMS)[number];
export const KINDS = ["agent", "config"] as const;
export type ReleaseKind = (typeof KINDS)[number];

const semver = z.string().refine(isSemver, "expected a semantic version like 1.4.2");
const isoDate = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && !Number.isNaN(Date.parse(s)), "expected an ISO 8601 date-time");
const groupName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "expected a group name (letters, digits, '.', '_', '-')");

/**
 * What a release key signs. `type` keeps a signature over a manifest from ever being read as a
 * signature over a root (and the reverse) when one key holds both roles. The object is strict: an
 * unknown field is refused, so nothing unsigned-by-meaning can ride along in signed bytes.
 */
export const manifestSchema = z.strictObject({
  type: z.literal("release"),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "expected a release name (letters, digits, '.', '_', '-')"),
  kind: z.enum(KINDS),
  version: semver,
  platform: z.enum(PLATFORMS),
  /** Archive size in bytes. */
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  /** Archive sha256, lowercase hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits"),
  created: isoDate,
  expires: isoDate,
  /** The oldest installed version this release may be installed over (null: any). */
  minVersion: semver.nullable(),
  /** Device groups this release targets; empty means every device. */
  groups: z.array(groupName).max(1000),
});

export type Manifest = z.infer<typeof manifestSchema>;

/** The exact bytes that are written to the manifest file and signed. */
export function encodeManifest(manifest: Manifest): Buffer {
  const parsed = manifestSchema.safeParse(manifest);
  if (!parsed.success) throw new OtaError("OTA_MANIFEST_INVALID", `manifest is invalid: ${zodIssues(parsed.error)}`);
  return canonicalBytes(parsed.data);
}

/**
 * Reads manifest bytes. Call it only after the signatures over these bytes were checked
 * (verifyManifest does): parsing attacker-controlled input is kept to the signature file until then.
 */
export function decodeManifest(bytes: Uint8Array, what = "manifest"): Manifest {
  const json = parseCanonical(bytes, what);
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new OtaError("OTA_MANIFEST_INVALID", `${what} is invalid: ${zodIssues(parsed.error)}`);
  return parsed.data;
}

/** Detached signatures file, next to the manifest: {"signatures":[{keyid, sig}]}. */
export const signatureFileSchema = z.strictObject({ signatures: z.array(signatureSchema).max(1000) });

export function parseSignatureFile(text: string, what = "signature file"): Signature[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OtaError("OTA_SIGNATURE", `${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = signatureFileSchema.safeParse(json);
  if (!parsed.success) throw new OtaError("OTA_SIGNATURE", `${what} is invalid: ${zodIssues(parsed.error)}`);
  return parsed.data.signatures;
}

export function encodeSignatureFile(signatures: readonly Signature[]): string {
  return JSON.stringify({ signatures }, null, 2) + "\n";
}

/** Adds `key`'s signature over the manifest bytes; a second signature by the same key replaces the first. */
export function addSignature(manifestBytes: Uint8Array, signatures: readonly Signature[], key: PrivateKey): Signature[] {
  return [...signatures.filter((s) => s.keyid !== key.keyid), sign(manifestBytes, key)];
}

/**
 * File names of one release, all derived from the archive name so that a release is one self-describing
 * group of files: NAME.tar.gz, NAME.manifest.json, NAME.manifest.json.sig.
 */
export interface ReleaseFiles {
  archive: string;
  manifest: string;
  signatures: string;
}

export function releaseFiles(archiveOrManifest: string): ReleaseFiles {
  let base: string;
  if (archiveOrManifest.endsWith(".manifest.json.sig")) base = archiveOrManifest.slice(0, -".manifest.json.sig".length);
  else if (archiveOrManifest.endsWith(".manifest.json")) base = archiveOrManifest.slice(0, -".manifest.json".length);
  else if (archiveOrManifest.endsWith(".tar.gz")) base = archiveOrManifest.slice(0, -".tar.gz".length);
  else throw new OtaError("OTA_MANIFEST_INVALID", `${archiveOrManifest}: expected a NAME.tar.gz archive or a NAME.manifest.json manifest`);
  return { archive: `${base}.tar.gz`, manifest: `${base}.manifest.json`, signatures: `${base}.manifest.json.sig` };
}

export function readSignatures(file: string): Signature[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return parseSignatureFile(text, file);
}
