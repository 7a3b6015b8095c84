import { describe, expect, it } from "vitest";
import { formatNodeId, parseBrowsePath, parseNodeId } from "../../../edge/drivers/opcua/node-id.js";

describe("OPC UA NodeId syntax", () => {
  it.each([
    ["ns=2;s=Line1.Oven1.Temperature", { namespace: 2, kind: "string", identifier: "Line1.Oven1.Temperature" }],
    ["ns=2;i=1001", { namespace: 2, kind: "numeric", identifier: "1001" }],
    ["i=2258", { namespace: 0, kind: "numeric", identifier: "2258" }],
    ["ns=3;g=09087e75-8e5e-499b-954f-f2a9603db28a", { namespace: 3, kind: "guid", identifier: "09087e75-8e5e-499b-954f-f2a9603db28a" }],
    ["ns=1;b=M/RbKBsRVkePCePcx24oRA==", { namespace: 1, kind: "opaque", identifier: "M/RbKBsRVkePCePcx24oRA==" }],
    ["nsu=urn:factory:line;s=A;B", { namespace: "urn:factory:line", kind: "string", identifier: "A;B" }],
  ])("parses %s", (text, expected) => {
    expect(parseNodeId(text)).toEqual(expected);
  });

  it.each([
    ["Line1.Oven1.Temperature", /expected a NodeId/],
    ["ns=2;x=1", /expected a NodeId/],
    ["ns=2;i=abc", /integer 0..4294967295/],
    ["ns=2;i=4294967296", /integer 0..4294967295/],
    ["ns=70000;i=1", /above 65535/],
    ["ns=2;s=", /must not be empty/],
    ["ns=2;g=not-a-guid", /GUID identifier/],
    ["ns=2;b=###", /base64/],
  ])("rejects %s with a message that says why", (text, message) => {
    const r = parseNodeId(text);
    expect("error" in r && r.error).toMatch(message);
  });

  it("formats a parsed NodeId with the namespace index the server uses", () => {
    const p = parseNodeId("nsu=urn:x;g=09087e75-8e5e-499b-954f-f2a9603db28a");
    if ("error" in p) throw new Error(p.error);
    expect(formatNodeId(p, 4)).toBe("ns=4;g=09087e75-8e5e-499b-954f-f2a9603db28a");
    expect(formatNodeId({ namespace: 0, kind: "numeric", identifier: "85" }, 0)).toBe("i=85");
  });
});

describe("OPC UA browse paths", () => {
  it("parses hierarchical and aggregate steps with namespace indexes and escapes", () => {
    expect(parseBrowsePath("/2:Factory/2:Line&/1.2:Temp&.Max")).toEqual([
      { reference: "hierarchical", namespaceIndex: 2, name: "Factory" },
      { reference: "hierarchical", namespaceIndex: 2, name: "Line/1" },
      { reference: "aggregates", namespaceIndex: 2, name: "Temp.Max" },
    ]);
    expect(parseBrowsePath("/Server")).toEqual([{ reference: "hierarchical", namespaceIndex: 0, name: "Server" }]);
  });

  it.each([
    ["2:Factory/2:Line1", /starts with "\/"/],
    ["/2:Factory//2:Line1", /empty element/],
    ["/2:Factory/<HasChild>2:Line1", /not supported/],
    ["/a:b", /not a BrowseName/],
    ["/2:Bad&x", /"&" must escape/],
  ])("rejects %s", (text, message) => {
    const r = parseBrowsePath(text);
    expect(!Array.isArray(r) && r.error).toMatch(message);
  });
});
