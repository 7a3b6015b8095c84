import { afterAll, describe, expect, it } from "vitest";
import { createPublicKey, verify } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreateIdentity, signWithIdentity } from "../../../agent/identity/identity.js";
import { runCli } from "../../helpers/cli.js";

describe("device identity", () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-identity-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("edge-agent identity creates a 0600 key pair once and prints the same id and key on every run", () => {
    const data = join(dir, "data");
    const first = runCli(["identity", "--data-dir", data]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^id: gw-[0-9a-f]{12}\nidSource: key\nderivedId: gw-[0-9a-f]{12}\npublicKey: \S+\nfile: \S+identity\.json\n$/);
    expect(statSync(join(data, "identity.json")).mode & 0o777).toBe(0o600);
    const second = runCli(["identity", "--data-dir", data]);
    expect(second.stdout).toBe(first.stdout);
  });

  it("with --config it uses the config's dataDir, and device.id when the config names one", () => {
    const config = join(dir, "agent.yaml");
    writeFileSync(config, `version: 1\ndataDir: ${join(dir, "cfg-data")}\ndevice: { id: line3-gw }\n`);
    const r = runCli(["identity", "--config", config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^id: line3-gw\nidSource: config\nderivedId: gw-[0-9a-f]{12}\n/);
    expect(r.stdout).toContain(`file: ${join(dir, "cfg-data", "identity.json")}`);
    expect(runCli(["identity"]).code).toBe(2);
  });

  it("signs with the private key that matches the published public key", () => {
    const data = join(dir, "sign");
    const id = loadOrCreateIdentity(data);
    const message = Buffer.from("edge-agent-provision:v1:nonce:gw-1");
    const sig = signWithIdentity(data, message);
    const key = createPublicKey({ key: Buffer.from(id.publicKey, "base64"), format: "der", type: "spki" });
    expect(verify(null, message, key, sig)).toBe(true);
    expect(verify(null, Buffer.from("something else"), key, sig)).toBe(false);
  });
});
