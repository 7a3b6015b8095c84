import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { opcuaCommand } from "../../../agent/cli/commands/opcua.js";
import { UsageError } from "../../../agent/cli/command.js";
import { listCertificates } from "../../../edge/drivers/opcua/pki-store.js";
import { startOpcuaSimulator, type OpcuaSimulator } from "../../../simulators/opcua/index.js";
import { tempDir } from "./helpers.js";

/** `edge-agent opcua browse|certs` against the simulator, as a user runs it (output captured). */
async function run(values: Record<string, string | boolean>, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => ((out += String(chunk)), true));
  const e = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  try {
    const code = await opcuaCommand.run(values, args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe("edge-agent opcua", () => {
  let sim: OpcuaSimulator;
  const tmp = tempDir("edge-opcua-cli-");
  const pki = join(tmp.dir, "pki");

  beforeAll(async () => {
    sim = await startOpcuaSimulator({ port: 0, pkiDir: join(tmp.dir, "sim-pki") });
  }, 60_000);
  afterAll(async () => {
    await sim?.stop();
    tmp.remove();
  });

  it("browse lists variables with NodeId, type, access and browse path, and methods", async () => {
    const { code, out } = await run({ pki }, ["browse", sim.endpointUrl]);
    expect(code).toBe(0);
    expect(out).toMatch(/^ns=1;s=Line1\.Oven1\.Temperature +Double +read +\/1:Factory\/1:Line1\/1:Oven1\/1:Temperature$/m);
    expect(out).toMatch(/^ns=1;s=Line1\.Oven1\.Setpoint +Double +read\/write +\/1:Factory\/1:Line1\/1:Oven1\/1:Setpoint$/m);
    expect(out).toMatch(/^ns=1;i=1001 +Double +read +\/1:Factory\/1:Line1\/1:Press1\/1:Pressure$/m);
    expect(out).toMatch(/^ns=1;b=ZmlsbGVyLWJvdHRsZXM= +UInt64 /m);
    expect(out).toMatch(/^ns=1;s=Line1\.StartBatch +\/1:Factory\/1:Line1\/1:StartBatch$/m);
    expect(out).toContain("1=urn:edge-agent:opcua-simulator");
    expect(out).not.toContain("/0:Server/");
  });

  it("browse --format yaml prints points to paste into a config", async () => {
    const { code, out } = await run({ pki, format: "yaml" }, ["browse", sim.endpointUrl]);
    expect(code).toBe(0);
    expect(out).toContain('  - { id: Filler1.Recipe, nodeId: "ns=1;s=Line1.Filler1.Recipe", writable: true }');
  });

  it("refuses an untrusted server, then certs list / trust / reject manage the decision", async () => {
    const secure = { pki, "security-policy": "Basic256Sha256", "security-mode": "SignAndEncrypt" };
    const thumbprint = sim.certificateThumbprint() as string;
    const refused = await run(secure, ["browse", sim.endpointUrl]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`edge-agent opcua certs trust ${thumbprint} --pki ${pki}`);

    const listed = await run({ pki }, ["certs", "list"]);
    expect(listed.out).toMatch(new RegExp(`^rejected +${thumbprint} +edge-agent factory simulator`, "m"));
    expect(listed.out).toMatch(/^own +[0-9a-f]{40} +edge-agent/m);

    expect((await run({ pki }, ["certs", "trust", thumbprint.slice(0, 8)])).code).toBe(0);
    expect(listCertificates(pki).find((c) => c.thumbprint === thumbprint)?.folder).toBe("trusted");
    const trusted = await run(secure, ["browse", sim.endpointUrl]);
    expect(trusted.code).toBe(0);
    expect(trusted.out).toContain("ns=1;s=Line1.Oven1.Temperature");

    expect((await run({ pki }, ["certs", "reject", thumbprint])).code).toBe(0);
    expect((await run(secure, ["browse", sim.endpointUrl])).code).toBe(1);

    const unknown = await run({ pki }, ["certs", "trust", "00112233445566778899"]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/no certificate with thumbprint/);
  });

  it("refuses bad command lines with usage errors", async () => {
    await expect(opcuaCommand.run({}, [])).rejects.toBeInstanceOf(UsageError);
    await expect(opcuaCommand.run({}, ["browse"])).rejects.toThrow(/one endpoint URL/);
    await expect(opcuaCommand.run({}, ["browse", "http://x"])).rejects.toThrow(/opc\.tcp:\/\//);
    await expect(opcuaCommand.run({ "security-policy": "Basic128" }, ["browse", "opc.tcp://x:4840"])).rejects.toThrow(/--security-policy must be one of/);
    await expect(opcuaCommand.run({}, ["certs", "delete"])).rejects.toThrow(/list, trust or reject/);
  });
});
