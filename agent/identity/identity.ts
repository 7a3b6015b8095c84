import { createHash, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EdgeError, errorMessage } from "../../edge/errors.js";

export interface Identity {
  /** Ed25519 public key, SPKI DER, base64. */
  publicKey: string;
  /** Id derived from the public key: used when the config names no device.id. */
  derivedId: string;
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
    return { publicKey: data.publicKey, derivedId: deriveId(data.publicKey) };
  } catch (err) {
    throw new EdgeError("IDENTITY", `cannot load or create the device identity ${file}: ${errorMessage(err)}`, { cause: err });
  }
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
  renameSync(tmp, file);
}
