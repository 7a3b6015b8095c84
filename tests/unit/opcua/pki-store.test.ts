import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { findByThumbprint, listCertificates, normaliseThumbprint, rejectCertificate, trustCertificate } from "../../../edge/drivers/opcua/pki-store.js";

const fixtures = join(import.meta.dirname, "..", "..", "fixtures", "opcua");
// SHA-1 fingerprints as `openssl x509 -fingerprint -sha1` printed them.
const PLC = normaliseThumbprint("BA:11:01:34:6F:F2:05:F2:09:E0:9F:47:38:CD:F2:4B:1F:92:8D:8B");
const OTHER = normaliseThumbprint("24:AD:77:56:86:78:6D:1C:D2:0C:0A:9A:58:6F:9A:F3:80:91:6C:09");

describe("the PKI folder (opcua certs)", () => {
  let pki: string;
  beforeEach(() => {
    pki = mkdtempSync(join(tmpdir(), "edge-pki-"));
  });
  afterEach(() => rmSync(pki, { recursive: true, force: true }));

  it("lists nothing for a folder that does not exist yet", () => {
    expect(listCertificates(join(pki, "missing"))).toEqual([]);
  });

  it("trusts a rejected server certificate by a thumbprint prefix, and rejects it again", () => {
    mkdirSync(join(pki, "rejected"), { recursive: true });
    copyFileSync(join(fixtures, "plc.pem"), join(pki, "rejected", "plc.pem"));
    const [rejected] = listCertificates(pki);
    expect(rejected).toMatchObject({ folder: "rejected", thumbprint: PLC, applicationUri: "urn:test:plc" });
    expect(rejected?.subject).toContain("CN=test-plc");

    const trusted = trustCertificate(pki, PLC.slice(0, 10).toUpperCase());
    expect(trusted).toMatchObject({ folder: "trusted", thumbprint: PLC });
    expect(trusted.file).toBe(join(pki, "trusted", "certs", `test-plc[${PLC}].pem`));
    expect(listCertificates(pki).map((c) => c.folder)).toEqual(["trusted"]);

    const again = rejectCertificate(pki, PLC);
    expect(again.folder).toBe("rejected");
    expect(listCertificates(pki).map((c) => c.folder)).toEqual(["rejected"]);
    expect(existsSync(trusted.file)).toBe(false);
  });

  it("trusts a certificate file (PEM or DER) and stores it as PEM", () => {
    const a = trustCertificate(pki, join(fixtures, "plc.pem"));
    const b = trustCertificate(pki, join(fixtures, "other-plc.der"));
    expect([a.thumbprint, b.thumbprint]).toEqual([PLC, OTHER]);
    expect(listCertificates(pki).map((c) => [c.folder, c.thumbprint]).sort()).toEqual([["trusted", OTHER], ["trusted", PLC]].sort());
    expect(b.file.endsWith(".pem")).toBe(true);
  });

  it("says what is wrong with a thumbprint or a file", () => {
    expect(() => trustCertificate(pki, "xyz")).toThrow(/not a thumbprint/);
    expect(() => trustCertificate(pki, PLC)).toThrow(/no certificate with thumbprint/);
    expect(() => trustCertificate(pki, join(import.meta.dirname, "pki-store.test.ts"))).toThrow(/not a PEM or DER/);
    expect(() => rejectCertificate(pki, OTHER)).toThrow(/no certificate/);
    expect(findByThumbprint(pki, "ba:11:01:34", ["trusted"])).toEqual([]);
  });
});
