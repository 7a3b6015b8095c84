import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { proofMessage, startFleetServer, type FleetServer } from "../../../simulators/fleet/index.js";
import { startTestBroker, type TestBroker } from "../../helpers/broker.js";
import { testLogger } from "../../helpers/logger.js";
import { api } from "./helpers.js";

/** A device identity as agent/identity makes it: Ed25519, public key as base64 SPKI DER. */
function identity() {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  return { publicKey: publicKey.export({ type: "spki", format: "der" }).toString("base64"), privateKey };
}

interface Provisioned {
  group: string;
  mqtt: { url: string; username: string; password: string };
}

describe("zero-touch provisioning with one-time claim tokens", () => {
  let broker: TestBroker;
  let dir: string;
  let fleet: FleetServer;

  beforeAll(async () => {
    broker = await startTestBroker();
    dir = mkdtempSync(join(tmpdir(), "fleet-prov-"));
    const tokens = join(dir, "claim-tokens.json");
    writeFileSync(tokens, JSON.stringify({ tokens: [{ token: "line3-token-0001", group: "line-3" }, { token: "plain-token-0002" }] }));
    fleet = await startFleetServer({ mqttUrl: broker.url, releasesDir: dir, claimTokenFile: tokens, logger: testLogger() });
  });
  afterAll(async () => {
    await fleet?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a token from the file provisions one device into its group with MQTT credentials", async () => {
    const id = identity();
    const r = await api<Provisioned>(fleet.url, "POST", "/provision", { claimToken: "line3-token-0001", deviceId: "gw-line3-a", publicKey: id.publicKey });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ group: "line-3", mqtt: { url: broker.url, username: "gw-line3-a" } });
    expect(r.body.mqtt.password.length).toBeGreaterThanOrEqual(24);
    const devices = await api<{ devices: { id: string; group: string }[] }>(fleet.url, "GET", "/devices");
    expect(devices.body.devices).toContainEqual(expect.objectContaining({ id: "gw-line3-a", group: "line-3" }));
  });

  it("a reused token is 409 with a clear message, and does not provision a second device", async () => {
    const r = await api<{ error: string }>(fleet.url, "POST", "/provision", { claimToken: "line3-token-0001", deviceId: "gw-intruder", publicKey: identity().publicKey });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/claim token already used .* ask for a new one/);
    const listed = await api<{ devices: { deviceId: string }[] }>(fleet.url, "GET", "/provision");
    expect(listed.body.devices.map((d) => d.deviceId)).not.toContain("gw-intruder");
  });

  it("an unknown token is 403; a malformed request is 400", async () => {
    const wrong = await api<{ error: string }>(fleet.url, "POST", "/provision", { claimToken: "no-such-token", deviceId: "gw-x", publicKey: identity().publicKey });
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toMatch(/unknown claim token/);
    const bad = await api<{ error: string }>(fleet.url, "POST", "/provision", { claimToken: "plain-token-0002", deviceId: "gw/x", publicKey: "AAAA" });
    expect(bad.status).toBe(400);
    const badKey = await api<{ error: string }>(fleet.url, "POST", "/provision", { claimToken: "plain-token-0002", deviceId: "gw-x", publicKey: Buffer.from("nonsense").toString("base64") });
    expect(badKey.status).toBe(400);
    expect(badKey.body.error).toMatch(/Ed25519/);
    // Neither spent the token.
    expect((await api(fleet.url, "POST", "/provision", { claimToken: "plain-token-0002", deviceId: "gw-plain", publicKey: identity().publicKey })).status).toBe(200);
  });

  it("tokens added through the API work once; the API never shows them", async () => {
    const add = await api<{ added: number; total: number; used: number }>(fleet.url, "POST", "/claim-tokens", [{ token: "api-token-0003", group: "line-9" }]);
    expect(add.status).toBe(201);
    expect(add.body).toMatchObject({ added: 1, total: 3, used: 2 });
    expect(JSON.stringify((await api(fleet.url, "GET", "/claim-tokens")).body)).not.toContain("api-token");
    const r = await api<Provisioned>(fleet.url, "POST", "/provision", { claimToken: "api-token-0003", deviceId: "gw-9", publicKey: identity().publicKey });
    expect(r.body.group).toBe("line-9");
  });

  it("with requireProof, the device must sign a fresh server nonce with its key", async () => {
    const strict = await startFleetServer({ mqttUrl: broker.url, releasesDir: dir, requireProof: true, claimTokens: [{ token: "proof-token-0004", group: "line-1" }], logger: testLogger() });
    try {
      const id = identity();
      const body = { claimToken: "proof-token-0004", deviceId: "gw-proof", publicKey: id.publicKey };
      const none = await api<{ error: string }>(strict.url, "POST", "/provision", body);
      expect(none.status).toBe(401);
      expect(none.body.error).toMatch(/GET \/provision\/nonce/);

      const n1 = (await api<{ nonce: string }>(strict.url, "GET", "/provision/nonce")).body.nonce;
      const other = identity(); // a signature by another key than the one presented
      const forged = await api(strict.url, "POST", "/provision", { ...body, nonce: n1, signature: sign(null, proofMessage(n1, "gw-proof"), other.privateKey).toString("base64") });
      expect(forged.status).toBe(401);

      const n2 = (await api<{ nonce: string }>(strict.url, "GET", "/provision/nonce")).body.nonce;
      const signature = sign(null, proofMessage(n2, "gw-proof"), id.privateKey).toString("base64");
      const ok = await api<Provisioned>(strict.url, "POST", "/provision", { ...body, nonce: n2, signature });
      expect(ok.status).toBe(200); // the failed attempts did not burn the token
      expect(ok.body.group).toBe("line-1");
      // A replayed request (same nonce) is refused before anything else: the token is spent anyway.
      const replay = await api(strict.url, "POST", "/provision", { ...body, nonce: n2, signature });
      expect(replay.status).toBe(409);
    } finally {
      await strict.stop();
    }
  });
});
