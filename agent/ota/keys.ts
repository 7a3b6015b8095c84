import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import nacl from "tweetnacl";
import { z } from "zod";
import { OtaError } from "./errors.js";

/**
 * Ed25519 keys (tweetnacl). On disk a key is a small JSON file:
 *   NAME.pub  {"type":"ed25519-public","name","keyid","publicKey"}            (shareable)
 *   NAME.key  {"type":"ed25519-private","name","keyid","publicKey","secretKey","created"} (mode 0600)
 * Keys and signatures are base64; a keyid is the sha256 of the raw 32-byte public key, in hex.
 */
export interface PublicKey {
  name: string;
  keyid: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
}

export interface PrivateKey extends PublicKey {
  /** tweetnacl's 64-byte secret key (seed followed by the public key). */
  secretKey: Uint8Array;
}

/** A detached signature as it travels in signature files and root envelopes. */
export interface Signature {
  keyid: string;
  /** base64 of the 64-byte Ed25519 signature. */
  sig: string;
}

export const signatureSchema = z.strictObject({
  keyid: z.string().min(1).max(128),
  sig: z.string().regex(/^[A-Za-z0-9+/]{86}==$/, "expected a base64 Ed25519 signature (88 characters)"),
});

const b64 = (n: number, what: string) =>
  z.string().refine((s) => /^[A-Za-z0-9+/]*={0,2}$/.test(s) && Buffer.from(s, "base64").length === n, `expected ${what} (${n} bytes, base64)`);

const publicFileSchema = z.strictObject({
  type: z.literal("ed25519-public"),
  name: z.string(),
  keyid: z.string(),
  publicKey: b64(32, "an Ed25519 public key"),
});

const privateFileSchema = z.strictObject({
  type: z.literal("ed25519-private"),
  name: z.string(),
  keyid: z.string(),
  publicKey: b64(32, "an Ed25519 public key"),
  secretKey: b64(64, "an Ed25519 secret key"),
  created: z.string(),
});

export function keyIdOf(publicKey: Uint8Array): string {
  return createHash("sha256").update(publicKey).digest("hex");
}

export function generateKey(name: string): PrivateKey {
  const pair = nacl.sign.keyPair();
  return { name, keyid: keyIdOf(pair.publicKey), publicKey: pair.publicKey, secretKey: pair.secretKey };
}

export function publicPart(key: PublicKey): PublicKey {
  return { name: key.name, keyid: key.keyid, publicKey: key.publicKey };
}

export function sign(message: Uint8Array, key: PrivateKey): Signature {
  return { keyid: key.keyid, sig: Buffer.from(nacl.sign.detached(message, key.secretKey)).toString("base64") };
}

/** DER SPKI header of an Ed25519 public key (RFC 8410): followed by the raw 32 bytes. */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const keyObjects = new Map<string, KeyObject | null>();

function keyObjectOf(publicKey: Uint8Array): KeyObject | null {
  const hex = Buffer.from(publicKey).toString("hex");
  let key = keyObjects.get(hex);
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
    } catch {
      key = null; // not a point on the curve: nothing verifies with it
    }
    // Keys come from trusted roots (a handful); the bound only keeps a long-running agent tidy.
    if (keyObjects.size >= 256) keyObjects.clear();
    keyObjects.set(hex, key);
  }
  return key;
}

/**
 * True when `sig` is a valid Ed25519 signature of `message` by `publicKey`; false on any malformed input.
 *
 * Verification runs in node:crypto (OpenSSL, native): about 0.1 ms instead of tweetnacl's ~14 ms on a
 * gateway, so the event loop is not held by signature checks of hostile offers. Signing stays with
 * tweetnacl: it runs on the operator's machine, not on the device, and the key files hold tweetnacl's
 * 64-byte secret keys.
 */
export function verifySignature(message: Uint8Array, sig: string, publicKey: Uint8Array): boolean {
  const raw = Buffer.from(sig, "base64");
  if (raw.length !== nacl.sign.signatureLength || publicKey.length !== nacl.sign.publicKeyLength) return false;
  const key = keyObjectOf(publicKey);
  if (key === null) return false;
  try {
    return cryptoVerify(null, message, key, raw);
  } catch {
    return false;
  }
}

export function encodePublicKeyFile(key: PublicKey): string {
  return JSON.stringify({ type: "ed25519-public", name: key.name, keyid: key.keyid, publicKey: Buffer.from(key.publicKey).toString("base64") }, null, 2) + "\n";
}

export function encodePrivateKeyFile(key: PrivateKey, created: Date): string {
  return (
    JSON.stringify(
      {
        type: "ed25519-private",
        name: key.name,
        keyid: key.keyid,
        publicKey: Buffer.from(key.publicKey).toString("base64"),
        secretKey: Buffer.from(key.secretKey).toString("base64"),
        created: created.toISOString(),
      },
      null,
      2,
    ) + "\n"
  );
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new OtaError("OTA_KEY_INVALID", `cannot read key file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ");
}

/** Reads a private key file and checks that its parts belong together (a mixed-up file signs with a key nobody trusts). */
export function readPrivateKeyFile(file: string): PrivateKey {
  const parsed = privateFileSchema.safeParse(readJson(file));
  if (!parsed.success) throw new OtaError("OTA_KEY_INVALID", `${file} is not an edge-agent private key: ${issues(parsed.error)}`);
  const secretKey = new Uint8Array(Buffer.from(parsed.data.secretKey, "base64"));
  const publicKey = nacl.sign.keyPair.fromSecretKey(secretKey).publicKey;
  if (!Buffer.from(publicKey).equals(Buffer.from(parsed.data.publicKey, "base64"))) throw new OtaError("OTA_KEY_INVALID", `${file}: publicKey does not belong to secretKey`);
  if (parsed.data.keyid !== keyIdOf(publicKey)) throw new OtaError("OTA_KEY_INVALID", `${file}: keyid does not match the public key`);
  return { name: parsed.data.name, keyid: parsed.data.keyid, publicKey, secretKey };
}

/** Reads a public key file; a private key file is accepted too and only its public half is returned. */
export function readPublicKeyFile(file: string): PublicKey {
  const json = readJson(file);
  if (typeof json === "object" && json !== null && (json as { type?: unknown }).type === "ed25519-private") return publicPart(readPrivateKeyFile(file));
  const parsed = publicFileSchema.safeParse(json);
  if (!parsed.success) throw new OtaError("OTA_KEY_INVALID", `${file} is not an edge-agent public key: ${issues(parsed.error)}`);
  const publicKey = new Uint8Array(Buffer.from(parsed.data.publicKey, "base64"));
  if (parsed.data.keyid !== keyIdOf(publicKey)) throw new OtaError("OTA_KEY_INVALID", `${file}: keyid does not match the public key`);
  return { name: parsed.data.name, keyid: parsed.data.keyid, publicKey };
}

export { issues as zodIssues };
