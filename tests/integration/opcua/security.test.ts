import { existsSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import type { OpcuaDriver } from "../../../edge/drivers/opcua/driver.js";
import { listCertificates, ownCertificatePath, trustCertificate } from "../../../edge/drivers/opcua/pki-store.js";
import { startOpcuaSimulator, type OpcuaSimulator } from "../../../simulators/opcua/index.js";
import { waitFor } from "../../helpers/ports.js";
import { collector, fast, makeDriver, tempDir } from "./helpers.js";

/**
 * Security: every policy and mode against a server whose certificate the agent trusts, the refusal of
 * a server it does not trust (with a message that says how to trust it, and the retry that follows the
 * trust), and the three identities. The agent's PKI lives in a temp folder, never in ~/.config.
 */
describe("OPC UA driver: security policies, modes, trust and identities", () => {
  let sim: OpcuaSimulator;
  const tmp = tempDir("edge-opcua-security-");
  const trustedPki = join(tmp.dir, "trusted-pki");
  const drivers: OpcuaDriver[] = [];
  const defaultPki = join(homedir(), ".config", "node-opcua-default");
  const hadDefaultPki = existsSync(defaultPki);

  beforeAll(async () => {
    sim = await startOpcuaSimulator({ port: 0, pkiDir: join(tmp.dir, "sim-pki") });
    const serverCert = join(tmp.dir, "server.pem");
    writeFileSync(serverCert, sim.certificatePem() ?? "");
    // What `edge-agent opcua certs trust server.pem` does.
    const trusted = trustCertificate(trustedPki, serverCert);
    expect(trusted.thumbprint).toBe(sim.certificateThumbprint());
  }, 60_000);

  afterAll(async () => {
    await Promise.all(drivers.map((d) => d.stop()));
    await sim?.stop();
    tmp.remove();
  });

  async function connect(extra: Record<string, unknown>, pkiDir = trustedPki) {
    const out = collector();
    const driver = makeDriver({ endpointUrl: sim.endpointUrl, ...fast, pkiDir, points: [{ id: "temp", nodeId: "ns=1;s=Line1.Oven1.Temperature" }], ...extra }, tmp.dir);
    drivers.push(driver);
    await driver.start(out.sink);
    return { driver, out };
  }

  const combos = [
    ["None", "None"],
    ["Basic256Sha256", "Sign"],
    ["Basic256Sha256", "SignAndEncrypt"],
    ["Aes128_Sha256_RsaOaep", "Sign"],
    ["Aes128_Sha256_RsaOaep", "SignAndEncrypt"],
  ] as const;

  it.each(combos)("connects with %s / %s to a trusted server and receives values", async (securityPolicy, securityMode) => {
    const { driver, out } = await connect({ securityPolicy, securityMode });
    await waitFor(`good values over ${securityPolicy}/${securityMode}`, () => out.of("temp").filter((s) => s.quality === "good").length >= 2 || undefined, 15_000);
    expect(driver.status()).toMatchObject({ connected: true, securityPolicy, securityMode, untrustedServerCertificate: null });
    await driver.stop();
  });

  it("created the agent's application certificate in its PKI folder, not in ~/.config", () => {
    expect(existsSync(ownCertificatePath(trustedPki))).toBe(true);
    expect(listCertificates(trustedPki).filter((c) => c.folder === "own")).toHaveLength(1);
    expect(existsSync(defaultPki)).toBe(hadDefaultPki);
  });

  it("refuses an untrusted server certificate, says how to trust it, and connects once it is trusted", async () => {
    const freshPki = join(tmp.dir, "fresh-pki");
    const { driver, out } = await connect({ securityPolicy: "Basic256Sha256", securityMode: "SignAndEncrypt" }, freshPki);
    const thumbprint = sim.certificateThumbprint() as string;
    await waitFor("the refusal", () => driver.status().untrustedServerCertificate ?? undefined, 15_000);
    const status = driver.status();
    expect(status.connected).toBe(false);
    expect(status.untrustedServerCertificate).toBe(thumbprint);
    expect(status.lastError).toContain("is not trusted");
    expect(status.lastError).toContain(`edge-agent opcua certs trust ${thumbprint} --pki ${freshPki}`);
    expect(out.of("temp")[0]).toMatchObject({ quality: "bad", value: null });
    expect(out.of("temp").some((s) => s.quality === "good")).toBe(false);
    expect(listCertificates(freshPki).filter((c) => c.folder === "rejected").map((c) => c.thumbprint)).toEqual([thumbprint]);

    // What `edge-agent opcua certs trust <thumbprint>` does; the driver retries on its own.
    trustCertificate(freshPki, thumbprint.slice(0, 12));
    await waitFor("values once the certificate is trusted", () => out.of("temp").find((s) => s.quality === "good"), 25_000);
    expect(driver.status()).toMatchObject({ connected: true, untrustedServerCertificate: null });
    await driver.stop();
  });

  it("logs in with a user name and password, and reports a wrong password", async () => {
    const ok = await connect({ securityPolicy: "Basic256Sha256", securityMode: "SignAndEncrypt", identity: { type: "username", username: "operator", password: "operator-pw" } });
    await waitFor("values as operator", () => ok.out.of("temp").find((s) => s.quality === "good"), 15_000);
    await ok.driver.stop();

    const bad = await connect({ identity: { type: "username", username: "operator", password: "wrong" } });
    await waitFor("the refusal of the password", () => (bad.driver.status().lastError?.includes("refused the identity") ? true : undefined), 15_000);
    expect(bad.driver.status().connected).toBe(false);
    expect(bad.out.of("temp").some((s) => s.quality === "good")).toBe(false);
    await bad.driver.stop();
  });

  it("logs in with a user certificate", async () => {
    const userPki = join(tmp.dir, "user-pki");
    const manager = new OPCUACertificateManager({ rootFolder: userPki, automaticallyAcceptUnknownCertificate: true });
    await manager.initialize();
    const certificateFile = join(userPki, "own", "certs", "user.pem");
    await manager.createSelfSignedCertificate({ applicationUri: "urn:edge-agent:test-user", subject: "/CN=test-user", startDate: new Date(), validity: 30, dns: [], outputFile: certificateFile });
    await manager.dispose();
    const { driver, out } = await connect({
      securityPolicy: "Aes128_Sha256_RsaOaep",
      securityMode: "SignAndEncrypt",
      identity: { type: "certificate", certificateFile, privateKeyFile: join(userPki, "own", "private", "private_key.pem") },
    });
    await waitFor("values with a certificate identity", () => out.of("temp").find((s) => s.quality === "good"), 15_000);
    expect(driver.status().lastError).toBeNull();
    await driver.stop();
  });
});
