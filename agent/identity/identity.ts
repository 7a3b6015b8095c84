import { createHash, createPrivateKey, generateKeyPairSync, sign } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EdgeError, errorMessage } from "../../edge/errors.js";

export interface Identity {
  /** Ed25519 public key, SPKI DER, base64. */
  publicKey: string;
  /** Id derived from the public key: used when the config names no device.id. */
  derivedId: string;
  /** The file holding the key pair. */
  file: string;
}

interface IdentityFile {
  version: 1;
  publicKey: string;
  privateKey: string;
  created: string;
}

/**
 * The gateway's Ed25519 identity, created on first start in {dataDir}/identity.json (mode 0600). The
 * device id derived from it is stable for the life of the data folder.
 */
export function loadOrCreateIdentity(dataDir: string): Identity {
  const file = join(dataDir, "identity.json");
  try {
    if (!existsSync(file)) create(dataDir, file);
    const data = JSON.parse(readFileSync(file, "utf8")) as IdentityFile;
    if (typeof data.publicKey !== "string") throw new Error("no publicKey field");
    return { publicKey: data.publicKey, derivedId: deriveId(data.publicKey), file };
  } catch (err) {
    throw new EdgeError("IDENTITY", `cannot load or create the device identity ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Signs `data` with the identity's private key (Ed25519), e.g. a provisioning nonce: the proof that
 * this gateway holds the key it registers. The private key never leaves this function.
 */
export function signWithIdentity(dataDir: string, data: Uint8Array): Buffer {
  const file = join(dataDir, "identity.json");
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as IdentityFile;
    const key = createPrivateKey({ key: Buffer.from(parsed.privateKey, "base64"), format: "der", type: "pkcs8" });
    return sign(null, data, key);
  } catch (err) {
    throw new EdgeError("IDENTITY", `cannot sign with the device identity ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Gives a file root created in someone else's folder to that folder's owner. Operators run
 * `edge-agent identity` or `provision` as root on a data folder the service user owns; a 0600 file left
 * owned by root would lock the agent out of its own key.
 */
export function matchFolderOwner(file: string, dir: string): void {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return;
  const d = statSync(dir);
  const f = statSync(file);
  if (f.uid !== d.uid || f.gid !== d.gid) chownSync(file, d.uid, d.gid);
}

export function deriveId(publicKey: string): string {
  return `gw-${createHash("sha256").update(publicKey, "base64").digest("hex").slice(0, 12)}`;
}

function create(dataDir: string, file: string): void {
  mkdirSync(dataDir, { recursive: true });
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const data: IdentityFile = {
    version: 1,
    publicKey: publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    privateKey: privateKey.export({ type: "pkcs8", format: "der" }).toString("base64"),
    created: new Date().toISOString(),
  };
  // Written aside and renamed, so a power cut never leaves a half-written key.
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(data, null, 2) + "\n", { mode: 0o600 });
  matchFolderOwner(tmp, dataDir);
  renameSync(tmp, file);
}
