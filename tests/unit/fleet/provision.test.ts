import { describe, expect, it } from "vitest";
import { generateKeyPairSync, sign } from "node:crypto";
import { Provisioner, ProvisionError, proofMessage } from "../../../simulators/fleet/provision.js";

function identity() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const der = publicKey.export({ type: "spki", format: "der" });
  return { spki: der.toString("base64"), raw: der.subarray(-32).toString("base64"), privateKey };
}

function statusOf(fn: () => unknown): number | "ok" {
  try {
    fn();
    return "ok";
  } catch (err) {
    if (err instanceof ProvisionError) return err.status;
    throw err;
  }
}

describe("provisioner", () => {
  it("a spare claim token cannot take over a registered device id with another key (409)", () => {
    const p = new Provisioner({ mqttUrl: "mqtt://x" });
    p.addTokens([{ token: "token-0001" }, { token: "token-0002" }, { token: "token-0003" }]);
    const real = identity();
    expect(statusOf(() => p.provision({ claimToken: "token-0001", deviceId: "gw-1", publicKey: real.spki }))).toBe("ok");
    expect(statusOf(() => p.provision({ claimToken: "token-0002", deviceId: "gw-1", publicKey: identity().spki }))).toBe(409);
    expect(p.provisioned().find((d) => d.deviceId === "gw-1")?.publicKey).toBe(real.spki);
    // The same key (also in its raw form) may provision again.
    expect(statusOf(() => p.provision({ claimToken: "token-0002", deviceId: "gw-1", publicKey: real.raw }))).toBe("ok");
    expect(p.tokenSummary()).toEqual({ total: 3, used: 2 });
  });

  it("unauthenticated nonces are capped: the oldest unspent ones are dropped", () => {
    const p = new Provisioner({ mqttUrl: "mqtt://x", requireProof: true, maxNonces: 100 });
    p.addTokens([{ token: "token-0001" }]);
    const id = identity();
    const first = p.nonce().nonce;
    for (let i = 0; i < 100; i++) p.nonce();
    const signature = sign(null, proofMessage(first, "gw-1"), id.privateKey).toString("base64");
    expect(statusOf(() => p.provision({ claimToken: "token-0001", deviceId: "gw-1", publicKey: id.spki, nonce: first, signature }))).toBe(401);
    const fresh = p.nonce().nonce;
    const ok = sign(null, proofMessage(fresh, "gw-1"), id.privateKey).toString("base64");
    expect(statusOf(() => p.provision({ claimToken: "token-0001", deviceId: "gw-1", publicKey: id.spki, nonce: fresh, signature: ok }))).toBe("ok");
  });
});
