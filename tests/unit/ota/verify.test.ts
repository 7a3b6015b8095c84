import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { isOtaError, type OtaErrorCode } from "../../../agent/ota/errors.js";
import { encodeManifest, type Manifest } from "../../../agent/ota/manifest.js";
import { sign, type PrivateKey } from "../../../agent/ota/keys.js";
import { verifyManifest, verifyPayload, type DeviceFacts } from "../../../agent/ota/verify.js";
import { keys, makeRoot, manifest, NOW, signed } from "./helpers.js";

const [rootKey] = keys(1, "root");
const [rel0, rel1, stranger] = keys(3, "rel");
const root1 = makeRoot({ version: 1, rootKeys: [rootKey!], releaseKeys: [rel0!] }).signed;
const root2of2 = makeRoot({ version: 1, rootKeys: [rootKey!], releaseKeys: [rel0!, rel1!], releaseThreshold: 2 }).signed;

const device: DeviceFacts = { platform: "linux-arm64", groups: ["line-3"], installedVersion: "1.1.0", floor: null };

function attempt(m: Manifest, over: { device?: Partial<DeviceFacts>; signers?: PrivateKey[]; now?: Date; root?: typeof root1 } = {}): OtaErrorCode | "ok" {
  try {
    verifyManifest({ ...signed(m, over.signers ?? [rel0!]), root: over.root ?? root1, device: { ...device, ...over.device }, now: over.now ?? NOW });
    return "ok";
  } catch (err) {
    if (isOtaError(err)) return err.code;
    throw err;
  }
}

describe("manifest checks", () => {
  it("a good manifest passes and every check is listed in order", () => {
    const steps: string[] = [];
    const r = verifyManifest({ ...signed(manifest({ groups: ["line-3"], minVersion: "1.0.0" }), [rel0!]), root: root1, device, now: NOW, onStep: (s) => steps.push(s) });
    expect(r.manifest.version).toBe("1.2.0");
    expect(steps.map((s) => s.split(":")[0])).toEqual(["signatures", "manifest", "platform", "groups", "expires", "version", "minVersion"]);
    expect(r.steps).toEqual(steps);
  });

  it("bad signature: signed by a key the root does not trust", () => {
    expect(attempt(manifest(), { signers: [stranger!] })).toBe("OTA_SIGNATURE");
  });

  it("bad signature: manifest bytes changed after signing", () => {
    const s = signed(manifest(), [rel0!]);
    const tampered = Buffer.from(s.manifestBytes.toString().replace('"1.2.0"', '"9.9.9"'));
    let code: string | undefined;
    try {
      verifyManifest({ manifestBytes: tampered, signatures: s.signatures, root: root1, device, now: NOW });
    } catch (err) {
      code = isOtaError(err) ? err.code : "other";
    }
    expect(code).toBe("OTA_SIGNATURE");
  });

  it("bad signature: unsigned, and below a threshold of 2 (also when one key signs twice)", () => {
    expect(attempt(manifest(), { signers: [] })).toBe("OTA_SIGNATURE");
    expect(attempt(manifest(), { signers: [rel0!], root: root2of2 })).toBe("OTA_SIGNATURE");
    expect(attempt(manifest(), { signers: [rel0!, rel0!], root: root2of2 })).toBe("OTA_SIGNATURE");
    expect(attempt(manifest(), { signers: [rel0!, rel1!], root: root2of2 })).toBe("ok");
  });

  it("the signature is checked before anything else: a forged manifest for the wrong platform is refused as forged", () => {
    expect(attempt(manifest({ platform: "linux-x64" }), { signers: [stranger!] })).toBe("OTA_SIGNATURE");
  });

  it("signed but not canonical bytes are refused", () => {
    const bytes = Buffer.from(JSON.stringify(manifest(), null, 2));
    let code: string | undefined;
    try {
      verifyManifest({ manifestBytes: bytes, signatures: [sign(bytes, rel0!)], root: root1, device, now: NOW });
    } catch (err) {
      code = isOtaError(err) ? err.code : "other";
    }
    expect(code).toBe("OTA_MANIFEST_INVALID");
  });

  it("wrong platform; 'any' fits every platform", () => {
    expect(attempt(manifest({ platform: "linux-x64" }))).toBe("OTA_PLATFORM");
    expect(attempt(manifest({ platform: "any" }))).toBe("ok");
  });

  it("wrong group; no groups means every device", () => {
    expect(attempt(manifest({ groups: ["line-1", "pilot"] }))).toBe("OTA_GROUP");
    expect(attempt(manifest({ groups: ["pilot"] }), { device: { groups: [] } })).toBe("OTA_GROUP");
    expect(attempt(manifest({ groups: ["pilot", "line-3"] }))).toBe("ok");
    expect(attempt(manifest({ groups: [] }), { device: { groups: [] } })).toBe("ok");
  });

  it("expired, including exactly at the expiry instant", () => {
    expect(attempt(manifest({ expires: "2029-12-31T23:59:59.000Z" }))).toBe("OTA_EXPIRED");
    expect(attempt(manifest({ expires: NOW.toISOString() }))).toBe("OTA_EXPIRED");
  });

  it("downgrade and equal version are refused", () => {
    expect(attempt(manifest({ version: "1.0.9" }))).toBe("OTA_NOT_NEWER");
    expect(attempt(manifest({ version: "1.1.0" }))).toBe("OTA_NOT_NEWER");
    expect(attempt(manifest({ version: "1.1.0-rc.1" }))).toBe("OTA_NOT_NEWER");
    expect(attempt(manifest({ version: "1.1.1" }))).toBe("ok");
  });

  it("at or below the committed floor is refused even when newer than what is installed", () => {
    const floor = { get: (kind: string) => (kind === "agent" ? "1.5.0" : null) };
    expect(attempt(manifest({ version: "1.2.0" }), { device: { floor } })).toBe("OTA_ROLLBACK");
    expect(attempt(manifest({ version: "1.5.0" }), { device: { floor } })).toBe("OTA_ROLLBACK");
    expect(attempt(manifest({ version: "1.5.1" }), { device: { floor } })).toBe("ok");
    // The floor is per kind: a config release is judged against the config floor.
    expect(attempt(manifest({ kind: "config", version: "1.2.0" }), { device: { floor } })).toBe("ok");
  });

  it("minVersion: the installed version must be at least it", () => {
    expect(attempt(manifest({ minVersion: "1.1.1" }))).toBe("OTA_MIN_VERSION");
    expect(attempt(manifest({ minVersion: "1.1.0" }))).toBe("ok");
    expect(attempt(manifest({ minVersion: "1.0.0" }), { device: { installedVersion: null } })).toBe("OTA_MIN_VERSION");
  });

  it("encodeManifest refuses an invalid manifest", () => {
    expect(() => encodeManifest(manifest({ version: "latest" }))).toThrow(/semantic version/);
    expect(() => encodeManifest({ ...manifest(), extra: 1 } as Manifest)).toThrow(/invalid/);
  });
});

/** An endless stream that counts how many bytes were actually pulled from it. */
function countingStream(chunkSize: number): { stream: Readable; produced: () => number } {
  let produced = 0;
  const chunk = Buffer.alloc(chunkSize, 7);
  const stream = new Readable({
    highWaterMark: chunkSize,
    read() {
      produced += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, produced: () => produced };
}

describe("payload check", () => {
  const data = Buffer.from("release payload bytes");
  const good = { size: data.length, sha256: createHash("sha256").update(data).digest("hex") };

  it("accepts the exact bytes", async () => {
    await expect(verifyPayload(Readable.from([data.subarray(0, 5), data.subarray(5)]), good)).resolves.toEqual({ bytes: data.length, sha256: good.sha256 });
  });

  it("an oversized payload stops reading early, just past the signed size", async () => {
    const { stream, produced } = countingStream(1024);
    const err = await verifyPayload(stream, { size: 10_000, sha256: good.sha256 }).catch((e: unknown) => e);
    expect(isOtaError(err, "OTA_SIZE")).toBe(true);
    // The stream is endless: it was only read up to the first chunk past 10,000 bytes (plus what the
    // stream buffered ahead), and it was destroyed so nothing more is read.
    expect(produced()).toBeLessThanOrEqual(10_000 + 3 * 1024);
    expect(stream.destroyed).toBe(true);
  });

  it("a truncated payload is refused by size", async () => {
    const err = await verifyPayload(Readable.from([data.subarray(0, 4)]), good).catch((e: unknown) => e);
    expect(isOtaError(err, "OTA_SIZE")).toBe(true);
  });

  it("same size, different bytes: sha256 mismatch", async () => {
    const evil = Buffer.from(data);
    evil[3] = evil[3]! ^ 1;
    const err = await verifyPayload(Readable.from([evil]), good).catch((e: unknown) => e);
    expect(isOtaError(err, "OTA_SHA256")).toBe(true);
    expect((err as Error).message).toMatch(/sha256/);
  });
});
