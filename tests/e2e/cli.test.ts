import { describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO, runCli } from "../helpers/cli.js";

const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };

describe("edge-agent CLI", () => {
  it("prints its version with --version and -V, at the top and on every command", () => {
    for (const args of [["--version"], ["-V"], ["run", "--version"], ["sim", "-V"], ["validate", "--version"]]) {
      const r = runCli(args);
      expect(r.code, args.join(" ")).toBe(0);
      expect(r.stdout.trim()).toBe(pkg.version);
    }
  });

  it("shows help for the tool and for every command", () => {
    const top = runCli(["--help"]);
    expect(top.code).toBe(0);
    for (const name of ["run", "sim", "validate"]) {
      expect(top.stdout).toContain(`  ${name} `);
      const r = runCli([name, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: edge-agent ${name}`);
    }
  });

  it("refuses an unknown command or option with exit code 2 and a pointer to --help", () => {
    const unknown = runCli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const badOption = runCli(["run", "--config", "x.yaml", "--frob"]);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/--frob/);
    expect(runCli(["run"]).stderr).toContain("run needs --config FILE");
  });

  it("validate accepts the shipped example configs", () => {
    for (const file of ["agent/config/examples/simulator.yaml", "agent/config/examples/gateway.yaml"]) {
      const r = runCli(["validate", file]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("is valid");
    }
  });

  describe("with a bad config file", () => {
    const dir = mkdtempSync(join(tmpdir(), "edge-cli-"));
    const dataDir = join(dir, "data");
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      [
        "version: 1",
        `dataDir: ${dataDir}`,
        "devices:",
        "  - id: press",
        "    protocol: modbus-tcp",
        "    host: 127.0.0.1",
        "    points:",
        "      - id: press.ok",
        "        register: 3",
        "      - id: press.bad",
        "        register: -4",
        "",
      ].join("\n"),
    );

    it("validate names the path and the problem and exits 1", () => {
      const r = runCli(["validate", file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("devices[0].points[1].register: expected integer 0..65535, got -4");
      expect(r.stderr).toContain("line 11");
    });

    it("run refuses to start, exits non-zero and touches nothing", () => {
      const r = runCli(["run", "--config", file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("devices[0].points[1].register: expected integer 0..65535, got -4");
      expect(r.stderr).toContain("did not start");
      // Refused before anything was opened: no data folder, no database.
      expect(existsSync(dataDir)).toBe(false);
      rmSync(dir, { recursive: true, force: true });
    });
  });

  it("run reports a file that does not exist", () => {
    const r = runCli(["run", "--config", "/nonexistent/edge.yaml"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent/edge.yaml");
    expect(r.stderr).toMatch(/cannot read the file: ENOENT/);
  });
});
