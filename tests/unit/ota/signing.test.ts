import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePrivateKeyFile, encodePublicKeyFile, generateKey, readPrivateKeyFile, readPublicKeyFile, sign, verifySignature } from "../../../agent/ota/keys.js";
import { checkThreshold, type Role } from "../../../agent/ota/threshold.js";
import { createFileExclusive } from "../../../agent/ota/atomic-file.js";
import { isOtaError } from "../../../agent/ota/errors.js";

const msg = Buffer.from('{"a":1}');

function role(entries: Array<[string, Uint8Array]>, threshold: number): Role {
  return { keys: new Map(entries), threshold };
}

describe("Ed25519 signatures", () => {
  it("verify for the signed bytes and key only", () => {
    const k = generateKey("a");
    const other = generateKey("b");
    const s = sign(msg, k);
    expect(verifySignature(msg, s.sig, k.publicKey)).toBe(true);
    expect(verifySignature(Buffer.from('{"a":2}'), s.sig, k.publicKey)).toBe(false);
    expect(verifySignature(msg, s.sig, other.publicKey)).toBe(false);
    expect(verifySignature(msg, "AAAA", k.publicKey)).toBe(false);
  });

  it("key files round-trip, and a private key whose parts do not match is refused", () => {
    const dir = mkdtempSync(join(tmpdir(), "ota-keys-"));
    const k = generateKey("rel");
    createFileExclusive(join(dir, "rel.key"), encodePrivateKeyFile(k, new Date()), 0o600);
    createFileExclusive(join(dir, "rel.pub"), encodePublicKeyFile(k));
    expect(statSync(join(dir, "rel.key")).mode & 0o777).toBe(0o600);
    expect(readPrivateKeyFile(join(dir, "rel.key")).keyid).toBe(k.keyid);
    expect(Buffer.from(readPublicKeyFile(join(dir, "rel.pub")).publicKey)).toEqual(Buffer.from(k.publicKey));
    expect(() => createFileExclusive(join(dir, "rel.key"), "x")).toThrow(/already exists/);
    expect(readFileSync(join(dir, "rel.key"), "utf8")).toContain("ed25519-private");

    const mixed = JSON.parse(readFileSync(join(dir, "rel.key"), "utf8")) as Record<string, string>;
    mixed.publicKey = Buffer.from(generateKey("x").publicKey).toString("base64");
    writeFileSync(join(dir, "mixed.key"), JSON.stringify(mixed));
    expect(() => readPrivateKeyFile(join(dir, "mixed.key"))).toThrow(/does not belong/);
  });
});

describe("thresholds count distinct public keys", () => {
  const a = generateKey("a");
  const b = generateKey("b");

  it("two valid signatures by two keys meet a threshold of 2", () => {
    const r = checkThreshold(msg, [sign(msg, a), sign(msg, b)], role([[a.keyid, a.publicKey], [b.keyid, b.publicKey]], 2));
    expect(r.met).toBe(true);
    expect(r.validKeyids).toEqual([a.keyid, b.keyid]);
  });

  it("the same signature twice counts once", () => {
    const s = sign(msg, a);
    const r = checkThreshold(msg, [s, s, { ...s }], role([[a.keyid, a.publicKey], [b.keyid, b.publicKey]], 2));
    expect(r.met).toBe(false);
    expect(r.validKeyids).toHaveLength(1);
  });

  it("one key listed under two keyids counts once", () => {
    const twin = role([["id-one", a.publicKey], ["id-two", a.publicKey], [b.keyid, b.publicKey]], 2);
    const sig = sign(msg, a).sig;
    const r = checkThreshold(msg, [{ keyid: "id-one", sig }, { keyid: "id-two", sig }], twin);
    expect(r.met).toBe(false);
    expect(r.validKeyids).toEqual(["id-one"]);
    // ...while a genuinely second key does meet it.
    expect(checkThreshold(msg, [{ keyid: "id-one", sig }, sign(msg, b)], twin).met).toBe(true);
  });

  it("signatures by unknown keys and invalid signatures never count", () => {
    const stranger = generateKey("s");
    const bad = { keyid: b.keyid, sig: sign(Buffer.from("other"), b).sig };
    const r = checkThreshold(msg, [sign(msg, stranger), bad, sign(msg, a)], role([[a.keyid, a.publicKey], [b.keyid, b.publicKey]], 2));
    expect(r.met).toBe(false);
    expect(r.unknownKeyids).toEqual([stranger.keyid]);
    expect(r.badKeyids).toEqual([b.keyid]);
  });

  it("a threshold above the distinct keys of a role is refused when a root is built", async () => {
    const { createRoot } = await import("../../../agent/ota/root.js");
    let err: unknown;
    try {
      createRoot({ version: 1, expires: new Date(Date.now() + 1e9), rootKeys: [a, a], rootThreshold: 2, releaseKeys: [b], releaseThreshold: 1 });
    } catch (e) {
      err = e;
    }
    expect(isOtaError(err, "OTA_ROOT_INVALID")).toBe(true);
  });
});
