import { describe, expect, it } from "vitest";
import { isOtaError, type OtaErrorCode } from "../../../agent/ota/errors.js";
import { parseRoot, signRoot, walkRootChain, type SignedRoot } from "../../../agent/ota/root.js";
import { verifyManifest } from "../../../agent/ota/verify.js";
import { keys, LATER, makeRoot, manifest, NOW, signed } from "./helpers.js";

function codeOf(fn: () => unknown): OtaErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    if (isOtaError(err)) return err.code;
    throw err;
  }
  return undefined;
}

// Root keys r0..r3, release keys e0..e2.
const r = keys(4, "root");
const e = keys(3, "release");
const [r0, r1, r2, r3] = r as [typeof r[0], typeof r[0], typeof r[0], typeof r[0]];
const [e0, e1, e2] = e as [typeof e[0], typeof e[0], typeof e[0]];

// v1: root r0+r1 (threshold 2), release e0.
const v1 = makeRoot({ version: 1, rootKeys: [r0, r1], rootThreshold: 2, releaseKeys: [e0] });
// v2: r1 and r2 (r0 revoked), release e1 (e0 revoked); signed by v1's r0+r1 and its own r1+r2.
const v2 = makeRoot({ version: 2, rootKeys: [r1, r2], rootThreshold: 2, releaseKeys: [e1], signers: [r0, r1, r2] });
// v3: r2 and r3, release e2; signed by v2's r1+r2 and its own r2+r3.
const v3 = makeRoot({ version: 3, rootKeys: [r2, r3], rootThreshold: 2, releaseKeys: [e2], signers: [r1, r2, r3] });

describe("root chain", () => {
  it("a device several roots behind walks every version and ends on the newest", () => {
    const { root, steps } = walkRootChain(v1, [v2, v3], NOW);
    expect(root.signed.version).toBe(3);
    expect(steps.join("\n")).toMatch(/root v2: signed by 2\/2 keys of v1 and 2\/2 of its own/);
    expect(steps.join("\n")).toMatch(/root v3: signed by 2\/2 keys of v2/);
  });

  it("roots the device already has are skipped; the walk goes on from its own", () => {
    expect(walkRootChain(v2, [v1, v2, v3], NOW).root.signed.version).toBe(3);
  });

  it("skipping a version is refused, even when the skipped-to root is signed by today's keys", () => {
    // v3 is validly signed by r1+r2, which v1 also... does not fully hold; build one that v1's keys sign.
    const jump = makeRoot({ version: 3, rootKeys: [r0, r1], rootThreshold: 2, releaseKeys: [e0], signers: [r0, r1] });
    expect(codeOf(() => walkRootChain(v1, [jump], NOW))).toBe("OTA_ROOT_VERSION");
    expect(codeOf(() => walkRootChain(v1, [v3], NOW))).toBe("OTA_ROOT_VERSION");
  });

  it("a new root needs a threshold of the old root keys", () => {
    // Signed by only one of v1's root keys (r1) plus its own r2: 1 of 2 old keys.
    const weak = makeRoot({ version: 2, rootKeys: [r1, r2], rootThreshold: 2, releaseKeys: [e1], signers: [r1, r2] });
    expect(codeOf(() => walkRootChain(v1, [weak], NOW))).toBe("OTA_ROOT_SIGNATURE");
  });

  it("a new root needs a threshold of its own root keys", () => {
    // The old owners sign a root whose new keys never signed (a typo'd or unheld key would brick devices).
    const orphan = makeRoot({ version: 2, rootKeys: [r2, r3], rootThreshold: 2, releaseKeys: [e1], signers: [r0, r1, r2] });
    expect(codeOf(() => walkRootChain(v1, [orphan], NOW))).toBe("OTA_ROOT_SIGNATURE");
  });

  it("a revoked root key cannot sign the next root", () => {
    // r0 was dropped in v2: a v3 signed by r0 + r1 does not meet v2's threshold (r1, r2).
    const byRevoked = makeRoot({ version: 3, rootKeys: [r0, r1], rootThreshold: 2, releaseKeys: [e0], signers: [r0, r1] });
    expect(codeOf(() => walkRootChain(v1, [v2, byRevoked], NOW))).toBe("OTA_ROOT_SIGNATURE");
  });

  it("a revoked release key signs nothing the device accepts after the rotation", () => {
    const m = signed(manifest(), [e0]);
    const device = { platform: "linux-arm64" as const, groups: [], installedVersion: "1.0.0", floor: null };
    expect(verifyManifest({ ...m, root: v1.signed, device, now: NOW }).manifest.version).toBe("1.2.0");
    const newest = walkRootChain(v1, [v2], NOW).root.signed;
    expect(codeOf(() => verifyManifest({ ...m, root: newest, device, now: NOW }))).toBe("OTA_SIGNATURE");
    expect(verifyManifest({ ...signed(manifest(), [e1]), root: newest, device, now: NOW }).manifest.name).toBe("edge-agent");
  });

  it("the newest root must not be expired; an expired intermediate root is fine", () => {
    const oldV2 = makeRoot({ version: 2, rootKeys: [r1, r2], rootThreshold: 2, releaseKeys: [e1], signers: [r0, r1, r2], expires: new Date("2029-06-01T00:00:00Z") });
    expect(codeOf(() => walkRootChain(v1, [oldV2], NOW))).toBe("OTA_ROOT_EXPIRED");
    const v3b = makeRoot({ version: 3, rootKeys: [r2, r3], rootThreshold: 2, releaseKeys: [e2], signers: [r1, r2, r3] });
    expect(walkRootChain(v1, [oldV2, v3b], NOW).root.signed.version).toBe(3);
    expect(codeOf(() => walkRootChain(v1, [], new Date(LATER.getTime() + 1)))).toBe("OTA_ROOT_EXPIRED");
  });

  it("a root whose signed part was changed after signing is refused", () => {
    const tampered: SignedRoot = { signed: { ...v2.signed, release: { keys: { [e0.keyid]: Buffer.from(e0.publicKey).toString("base64") }, threshold: 1 } }, signatures: v2.signatures };
    expect(codeOf(() => walkRootChain(v1, [tampered], NOW))).toBe("OTA_ROOT_SIGNATURE");
  });

  it("duplicate signatures by one old root key do not meet a threshold of 2", () => {
    let dup = makeRoot({ version: 2, rootKeys: [r1, r2], rootThreshold: 2, releaseKeys: [e1], signers: [r1, r2] });
    const s = dup.signatures.find((x) => x.keyid === r1.keyid)!;
    dup = { signed: dup.signed, signatures: [...dup.signatures, s, s] };
    expect(codeOf(() => walkRootChain(v1, [dup], NOW))).toBe("OTA_ROOT_SIGNATURE");
    expect(walkRootChain(v1, [signRoot(dup, r0)], NOW).root.signed.version).toBe(2);
  });

  it("parseRoot refuses malformed roots and unmeetable thresholds", () => {
    const json = JSON.parse(JSON.stringify(v1)) as { signed: { root: { threshold: number } } };
    expect(parseRoot(JSON.parse(JSON.stringify(v1))).signed.version).toBe(1);
    json.signed.root.threshold = 3;
    expect(codeOf(() => parseRoot(json))).toBe("OTA_ROOT_INVALID");
    expect(codeOf(() => parseRoot({ signed: { ...v1.signed, extra: 1 }, signatures: [] }))).toBe("OTA_ROOT_INVALID");
  });
});
