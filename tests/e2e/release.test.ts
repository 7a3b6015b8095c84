import { afterAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.js";

describe("edge-agent keys and release, as an operator runs them", () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-release-"));
  const k = join(dir, "keys");
  const src = join(dir, "src");
  const out = join(dir, "out");
  const archive = join(out, "edge-agent-1.2.0.tar.gz");
  const manifest = join(out, "edge-agent-1.2.0.manifest.json");
  const root = join(k, "root.json");
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  mkdirSync(join(src, "bin"), { recursive: true });
  writeFileSync(join(src, "bin", "agent.js"), "console.log('edge-agent 1.2.0')\n");
  writeFileSync(join(src, "package.json"), '{"name":"edge-agent","version":"1.2.0"}\n');

  const ok = (args: string[]) => {
    const r = runCli(args);
    expect(r.stderr, args.join(" ")).not.toMatch(/Error:|at /);
    expect(r.code, `${args.join(" ")}\n${r.stderr}`).toBe(0);
    return r;
  };

  it("keys generate makes a 0600 private key and refuses to overwrite it", () => {
    const r = ok(["keys", "generate", "--out", k, "--name", "release"]);
    expect(r.stdout).toContain("keyid:");
    expect(statSync(join(k, "release.key")).mode & 0o777).toBe(0o600);
    const before = readFileSync(join(k, "release.key"), "utf8");
    const again = runCli(["keys", "generate", "--out", k, "--name", "release"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
    expect(readFileSync(join(k, "release.key"), "utf8")).toBe(before);
  });

  it("keys root + sign-root make a signed root", () => {
    ok(["keys", "generate", "--out", k, "--name", "root"]);
    ok(["keys", "root", "--keys", join(k, "root.pub"), "--threshold", "1", "--release-keys", join(k, "release.pub"), "--out", root]);
    const r = ok(["keys", "sign-root", root, "--key", join(k, "root.key")]);
    expect(r.stdout).toContain("1 of 1 required (met)");
  });

  it("pack -> sign -> verify succeeds and lists every check", () => {
    const p = ok(["release", "pack", src, "--name", "edge-agent", "--kind", "agent", "--version", "1.2.0", "--platform", "any", "--groups", "line-3", "--out", archive]);
    expect(p.stdout).toContain("sha256");
    expect(existsSync(manifest)).toBe(true);

    const unsigned = runCli(["release", "verify", archive, "--root", root, "--installed-version", "1.1.0", "--group", "line-3"]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain("OTA_SIGNATURE");

    ok(["release", "sign", manifest, "--key", join(k, "release.key")]);
    const v = ok(["release", "verify", archive, "--root", root, "--installed-version", "1.1.0", "--group", "line-3"]);
    for (const check of ["signatures:", "platform:", "groups:", "expires:", "version: 1.2.0 > installed 1.1.0", "minVersion:", "size:", "sha256:", "contents:"]) expect(v.stdout).toContain(check);
    expect(v.stdout).toContain("verified: edge-agent 1.2.0");
  });

  it("verify refuses a downgrade, another group, and a tampered archive naming sha256", () => {
    const same = runCli(["release", "verify", manifest, "--root", root, "--installed-version", "1.2.0", "--group", "line-3"]);
    expect(same.code).toBe(1);
    expect(same.stderr).toContain("OTA_NOT_NEWER");
    const group = runCli(["release", "verify", manifest, "--root", root, "--installed-version", "1.1.0", "--group", "line-9"]);
    expect(group.code).toBe(1);
    expect(group.stderr).toContain("OTA_GROUP");

    const bytes = readFileSync(archive);
    bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
    writeFileSync(archive, bytes);
    const t = runCli(["release", "verify", archive, "--root", root, "--installed-version", "1.1.0", "--group", "line-3"]);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/OTA_SHA256: archive sha256 [0-9a-f]{64} does not match/);
    expect(t.stdout).toContain("ok  signatures:"); // what passed before the refusal is shown
  });

  it("usage mistakes are exit 2", () => {
    expect(runCli(["release", "pack", src, "--name", "x", "--kind", "agent", "--version", "1.0.0", "--out", join(out, "x.tar.gz")]).code).toBe(2); // agent needs --platform
    expect(runCli(["release", "verify", archive]).code).toBe(2);
    expect(runCli(["keys", "frob"]).code).toBe(2);
  });
});
