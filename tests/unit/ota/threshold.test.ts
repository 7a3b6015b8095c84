import { beforeEach, describe, expect, it, vi } from "vitest";
import { isOtaError } from "../../../agent/ota/errors.js";
import { verifyManifest } from "../../../agent/ota/verify.js";
import { walkRootChain } from "../../../agent/ota/root.js";
import type { Signature } from "../../../agent/ota/keys.js";
import { keys, makeRoot, manifest, NOW, signed } from "./helpers.js";

// Counts every Ed25519 verification, whichever code path asks for it.
const count = vi.hoisted(() => ({ n: 0 }));
vi.mock("../../../agent/ota/keys.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../../../agent/ota/keys.js")>();
  return {
    ...real,
    verifySignature: (...args: Parameters<typeof real.verifySignature>) => {
      count.n++;
      return real.verifySignature(...args);
    },
  };
});

const [rootKey] = keys(1, "root");
const [rel0, rel1, rel2] = keys(3, "rel");
const root = makeRoot({ version: 1, rootKeys: [rootKey!], releaseKeys: [rel0!, rel1!, rel2!], releaseThreshold: 2 });
const device = { platform: "linux-arm64" as const, groups: [], installedVersion: "1.1.0", floor: null };
const forged = (keyid: string, i: number): Signature => ({ keyid, sig: Buffer.alloc(64, i % 251).toString("base64") });

function refusedCode(signatures: Signature[]): string {
  try {
    verifyManifest({ manifestBytes: signed(manifest(), []).manifestBytes, signatures, root: root.signed, device, now: NOW });
    return "ok";
  } catch (err) {
    if (isOtaError(err)) return err.code;
    throw err;
  }
}

describe("signature threshold work is bounded (signature-verify DoS)", () => {
  beforeEach(() => {
    count.n = 0;
  });

  it("an offer with 100 forged signatures under one trusted keyid costs one verification", () => {
    const t = Date.now();
    expect(refusedCode(Array.from({ length: 100 }, (_, i) => forged(rel0!.keyid, i)))).toBe("OTA_SIGNATURE");
    expect(count.n).toBe(1);
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it("forged signatures spread over every trusted keyid cost at most one verification per distinct key", () => {
    const sigs = Array.from({ length: 100 }, (_, i) => forged([rel0!, rel1!, rel2!][i % 3]!.keyid, i));
    expect(refusedCode(sigs)).toBe("OTA_SIGNATURE");
    expect(count.n).toBeLessThanOrEqual(3);
  });

  it("a root offered with 1000 forged signatures by the trusted root key costs one verification", () => {
    const next = makeRoot({ version: 2, rootKeys: [rootKey!], releaseKeys: [rel0!], signers: [] });
    const hostile = { ...next, signatures: Array.from({ length: 1000 }, (_, i) => forged(rootKey!.keyid, i)) };
    let code = "ok";
    try {
      walkRootChain(root, [hostile], NOW);
    } catch (err) {
      code = isOtaError(err) ? err.code : String(err);
    }
    expect(code).toBe("OTA_ROOT_SIGNATURE");
    expect(count.n).toBe(1);
  });

  it("genuine signatures still meet the threshold after forged ones by other keys", () => {
    const { manifestBytes, signatures } = signed(manifest(), [rel1!, rel2!]);
    const sigs = [forged(rel0!.keyid, 1), forged(rel0!.keyid, 2), ...signatures];
    const r = verifyManifest({ manifestBytes, signatures: sigs, root: root.signed, device, now: NOW });
    expect(r.manifest.version).toBe("1.2.0");
    expect(count.n).toBe(3);
  });
});
