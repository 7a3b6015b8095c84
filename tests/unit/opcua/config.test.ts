import { describe, expect, it } from "vitest";
import { opcuaDeviceSchema } from "../../../edge/drivers/opcua/config.js";

const base = { protocol: "opcua", id: "plc", endpointUrl: "opc.tcp://10.0.0.5:4840", points: [{ id: "t", nodeId: "ns=2;s=T" }] };

function problems(input: unknown): string[] {
  const r = opcuaDeviceSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

describe("OPC UA device config", () => {
  it("fills the defaults a plant engineer expects", () => {
    const d = opcuaDeviceSchema.parse(base);
    expect(d).toMatchObject({ securityPolicy: "None", securityMode: "None", identity: { type: "anonymous" }, acceptUnknownServerCertificate: false, pollMs: 1000, methods: [] });
    expect(d.subscription).toEqual({ publishingIntervalMs: 1000, samplingIntervalMs: 1000, queueSize: 10, keepAliveCount: 10, lifetimeCount: 100, maxNotificationsPerPublish: 0 });
    expect(d.points[0]).toMatchObject({ id: "t", mode: "subscribe", scale: 1, offset: 0, deadband: 0, writable: false });
    expect(d.pkiDir).toBeUndefined();
  });

  it("accepts every NodeId form, browse paths, filters, poll points, identities and methods", () => {
    const d = opcuaDeviceSchema.parse({
      ...base,
      securityPolicy: "Aes128_Sha256_RsaOaep",
      securityMode: "Sign",
      identity: { type: "username", username: "op", password: "pw" },
      points: [
        { id: "a", nodeId: "ns=2;i=5", dataChangeFilter: { type: "percent", value: 2.5 } },
        { id: "b", nodeId: "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a", samplingIntervalMs: 0, queueSize: 100 },
        { id: "c", browsePath: "/2:Plant/2:Oven/2:Temp", mode: "poll", pollMs: 250, scale: 0.1, writable: true, dataType: "Int16" },
        { id: "d", nodeId: "nsu=urn:plc;b=AAEC", deadband: 0.5 },
      ],
      methods: [{ id: "reset", object: "ns=2;s=Oven", method: "/2:Plant/2:Oven/2:Reset", inputTypes: ["UInt32"] }],
    });
    expect(d.points.map((p) => p.mode)).toEqual(["subscribe", "subscribe", "poll", "subscribe"]);
    expect(d.points[0]?.dataChangeFilter).toEqual({ type: "percent", value: 2.5, trigger: "statusValue" });
  });

  it.each([
    [{ ...base, endpointUrl: "http://plc:4840" }, "endpointUrl: expected an endpoint URL like opc.tcp://"],
    [{ ...base, securityPolicy: "Basic256Sha256" }, "securityPolicy: securityPolicy Basic256Sha256 / Aes128_Sha256_RsaOaep needs securityMode Sign or SignAndEncrypt"],
    [{ ...base, securityMode: "Sign" }, "securityMode: securityPolicy None goes with securityMode None"],
    [{ ...base, securityPolicy: "Basic128Rsa15", securityMode: "Sign" }, "securityPolicy:"],
    [{ ...base, points: [{ id: "t" }] }, "points.0.nodeId: give exactly one of nodeId and browsePath"],
    [{ ...base, points: [{ id: "t", nodeId: "ns=2;s=T", browsePath: "/2:T" }] }, "points.0.browsePath: give exactly one"],
    [{ ...base, points: [{ id: "t", nodeId: "Temperature" }] }, 'points.0.nodeId: expected a NodeId like ns=2;s=Name'],
    [{ ...base, points: [{ id: "t", browsePath: "Objects/2:T" }] }, 'points.0.browsePath: a browse path starts with "/"'],
    [{ ...base, points: [{ id: "t", nodeId: "ns=2;s=T", mode: "poll", dataChangeFilter: { type: "absolute", value: 1 } }] }, "points.0.dataChangeFilter: dataChangeFilter applies to mode subscribe"],
    [{ ...base, points: [{ id: "t", nodeId: "ns=2;s=T", pollMs: 100 }] }, "points.0.pollMs: pollMs applies to mode poll"],
    [{ ...base, points: [{ id: "t", nodeId: "ns=2;s=T", dataChangeFilter: { type: "percent", value: 150 } }] }, "points.0.dataChangeFilter.value: a percent deadband is 0..100"],
    [{ ...base, points: [{ id: "t", nodeId: "ns=2;s=T", dataType: "Decimal" }] }, "points.0.dataType:"],
    [{ ...base, subscription: { keepAliveCount: 50, lifetimeCount: 100 } }, "subscription.lifetimeCount: must be at least 3 x keepAliveCount (150)"],
    [{ ...base, identity: { type: "username", username: "op" } }, "identity.password:"],
    [{ ...base, methods: [{ id: "m", object: "ns=2;s=O", method: "ns=2;s=M" }, { id: "m", object: "ns=2;s=O", method: "ns=2;s=N" }] }, 'methods.1.id: method id "m" is already used by methods[0]'],
    [{ ...base, methods: [{ id: "m", object: "Oven", method: "ns=2;s=M" }] }, "methods.0.object: expected a NodeId"],
    [{ ...base, host: "plc" }, ""],
  ])("refuses a bad device with an error naming the field (%#)", (input, message) => {
    const p = problems(input);
    expect(p.length).toBeGreaterThan(0);
    expect(p.some((line) => line.startsWith(message))).toBe(true);
  });
});
