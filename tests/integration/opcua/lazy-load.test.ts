import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { SharedResources } from "../../../edge/drivers/shared.js";
import { testLogger } from "../../helpers/logger.js";

const require = createRequire(import.meta.url);
/** node-opcua modules Node.js has loaded in this process (its CommonJS cache). */
const loadedOpcua = () => Object.keys(require.cache).filter((k) => /[\\/]node_modules[\\/]node-opcua/.test(k));

const config = {
  version: 1,
  devices: [
    { id: "plc", protocol: "modbus-tcp", host: "127.0.0.1", points: [{ id: "plc.t", register: 0 }] },
    { id: "line", protocol: "opcua", endpointUrl: "opc.tcp://127.0.0.1:1", points: [{ id: "line.t", nodeId: "ns=1;s=Line1.Oven1.Temperature" }] },
  ],
};

/**
 * A Modbus-only gateway must not pay for the OPC UA stack: validating a config (even one with an OPC UA
 * device) loads no node-opcua module; only creating an OPC UA driver does. This file runs in its own
 * worker (vitest isolates files), which the first assertion checks.
 */
describe("node-opcua loads only when an OPC UA device is created", () => {
  it("is not loaded by the registry or by validating an OPC UA config, and is by creating the driver", async () => {
    expect(loadedOpcua()).toEqual([]);
    const registry = await import("../../../edge/drivers/registry.js");
    const { configSchema } = await import("../../../agent/config/schema.js");
    const parsed = configSchema.safeParse(config);
    expect(parsed.success ? "valid" : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`)).toBe("valid");
    expect(loadedOpcua()).toEqual([]);

    // The Modbus driver does not bring it in either.
    const ctx = { logger: testLogger(), clock: Date.now, shared: new SharedResources() };
    const devices = parsed.success ? parsed.data.devices : [];
    const modbus = await registry.createDriver(devices[0] as (typeof devices)[number], ctx);
    expect(modbus.id).toBe("plc");
    expect(loadedOpcua()).toEqual([]);

    // The control: creating the OPC UA driver loads it (so the check above can see it).
    const opcua = await registry.createDriver(devices[1] as (typeof devices)[number], ctx);
    expect(opcua.status().protocol).toBe("opcua");
    expect(loadedOpcua().some((k) => /node-opcua-client[\\/]/.test(k))).toBe(true);
  });
});
