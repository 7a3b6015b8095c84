import { existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { parseOpcuaFaults, startOpcuaSimulator } from "../../../simulators/opcua/index.js";

describe("OPC UA simulator: options and lifecycle", () => {
  it("reports a busy port as EADDRINUSE (so the sim command can fall back to a free one)", async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as AddressInfo).port;
    try {
      await expect(startOpcuaSimulator({ port })).rejects.toMatchObject({ code: "EADDRINUSE" });
    } finally {
      blocker.close();
    }
  });

  it("refuses bad options and bad faults with a message", async () => {
    await expect(startOpcuaSimulator({ port: 70000 })).rejects.toThrow(/port must be an integer 0..65535/);
    await expect(startOpcuaSimulator({ bulkVariables: -1 })).rejects.toThrow(/bulkVariables/);
    await expect(startOpcuaSimulator({ securityModes: [] })).rejects.toThrow(/at least one/);
    expect(() => parseOpcuaFaults({ badStatus: { code: "GoodEnough" } })).toThrow(/badStatus.code: expected an OPC UA status code name starting with Bad/);
    expect(() => parseOpcuaFaults({ latencyMs: -5 })).toThrow(/latencyMs/);
  });

  it("serves, stops, and removes the temporary PKI folder it made", async () => {
    const sim = await startOpcuaSimulator({ port: 0, securityPolicies: ["None"], securityModes: ["None"] });
    expect(sim.endpointUrl).toBe(`opc.tcp://127.0.0.1:${sim.port}`);
    expect(sim.certificateThumbprint()).toMatch(/^[0-9a-f]{40}$/);
    expect(existsSync(sim.pkiDir)).toBe(true);
    const first = sim.value("Line1.Press1.StrokeCount");
    expect(typeof first).toBe("number");
    expect(() => sim.setFaults({ latencyMs: -1 })).toThrow();
    expect(sim.faults()).toEqual({});
    await sim.stop();
    await sim.stop();
    expect(existsSync(sim.pkiDir)).toBe(false);
  }, 60_000);
});
