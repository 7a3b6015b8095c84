import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../agent/config/load.js";

const base = (body: string) => `version: 1\n${body}\n`;

describe("environment references in a config file", () => {
  it("replaces ${VAR} in values and keeps the type of an unquoted single reference", () => {
    const cfg = parseConfig(base("api:\n  port: ${API_PORT}\nmqtt:\n  url: mqtt://${HOST}:1883\n  password: ${PW}"), "c.yaml", { API_PORT: "9090", HOST: "b.local", PW: "s3cret" });
    expect(cfg.api.port).toBe(9090);
    expect(cfg.mqtt?.url).toBe("mqtt://b.local:1883");
    expect(cfg.mqtt?.password).toBe("s3cret");
  });

  it("uses the default after :- when the variable is unset or empty", () => {
    const cfg = parseConfig(base("api:\n  port: ${API_PORT:-8181}\ndataDir: ${DIR:-/var/lib/x}"), "c.yaml", { DIR: "" });
    expect(cfg.api.port).toBe(8181);
    expect(cfg.dataDir).toBe("/var/lib/x");
  });

  it("keeps a quoted reference a string, so a numeric password stays text", () => {
    const cfg = parseConfig(base('mqtt:\n  url: mqtt://h:1883\n  password: "${PW}"'), "c.yaml", { PW: "12345" });
    expect(cfg.mqtt?.password).toBe("12345");
  });

  it("ignores references in comments and writes $${ as a literal", () => {
    const cfg = parseConfig(base("# set ${NOT_SET} here\nmqtt:\n  url: mqtt://h:1883\n  password: a$${b}"), "c.yaml", {});
    expect(cfg.mqtt?.password).toBe("a${b}");
  });

  it("names the variable and the line when a reference has no value", () => {
    expect(() => parseConfig(base("mqtt:\n  url: mqtt://h:1883\n  password: ${PW}"), "c.yaml", {})).toThrow(
      /environment variable PW is not set .*\(c\.yaml line 4\)/,
    );
  });
});
