import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePrivateKeyFile } from "../../agent/ota/keys.js";
import { REPO } from "../helpers/cli.js";
import { makeTrust } from "../helpers/ota.js";

/**
 * scripts/release-build.sh and scripts/install.sh as an operator runs them, into a temp root (--root):
 * the real useradd (with --prefix), tar, chown and the real `edge-agent release verify`. The release
 * is the real compiled dist without node_modules (--no-deps): `npm ci --omit=dev` takes minutes here
 * and belongs to the release bench, while the layout, modes, owners and idempotence are the same.
 */

const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;
const PLATFORM = process.arch === "arm64" ? "linux-arm64" : "linux-x64";
const NAME = `edge-agent-${VERSION}-${PLATFORM}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bash(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync("bash", [join(REPO, "scripts", script), ...args], { cwd: REPO, env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every path below `root` with its type, mode, owner and content hash (or link target): no times. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    const abs = join(root, rel);
    const st = lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, "0");
    const who = `${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.push(`l ${mode} ${who} ${rel} -> ${readlinkSync(abs)}`);
    else if (st.isDirectory()) {
      out.push(`d ${mode} ${who} ${rel}/`);
      for (const name of readdirSync(abs).sort()) walk(rel ? join(rel, name) : name);
    } else out.push(`f ${mode} ${who} ${rel} ${createHash("sha256").update(readFileSync(abs)).digest("hex")}`);
  };
  walk("");
  return out;
}

function idOf(root: string, db: "passwd" | "group", name: string): number {
  const line = readFileSync(join(root, "etc", db), "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`${name} not in ${db}`);
  return Number(line.split(":")[2]);
}

function mode(path: string): string {
  return (lstatSync(path).mode & 0o7777).toString(8).padStart(4, "0");
}

function owner(path: string): string {
  const st = lstatSync(path);
  return `${st.uid}:${st.gid}`;
}

describe("release build and install.sh on a gateway (temp root)", () => {
  const dir = mkdtempSync(join(tmpdir(), "edge-install-"));
  const out = join(dir, "out");
  const archive = join(out, `${NAME}.tar.gz`);
  const manifest = join(out, `${NAME}.manifest.json`);
  const trust = makeTrust(join(dir, "trust"));
  const root = join(dir, "root");
  const install = (args: string[], env?: NodeJS.ProcessEnv) => bash("install.sh", ["--root", root, ...args], env);
  // The verifier is named: install.sh would prefer the installed supervisor copy on a second run, and a
  // --no-deps release cannot run `release verify` (it needs zod); a full release can.
  const verifier = ["--verifier", join(REPO, "dist", "agent", "cli", "main.js")];
  const release = ["--release", archive, "--root-of-trust", trust.rootFile, ...verifier];

  beforeAll(() => {
    const key = join(dir, "trust", "release.key");
    writeFileSync(key, encodePrivateKeyFile(trust.releaseKeys[0]!, new Date()), { mode: 0o600 });
    const b = bash("release-build.sh", ["--no-compile", "--no-deps", "--out", out, "--key", key]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout.split("\n")).toEqual([archive, manifest, `${manifest}.sig`, join(out, "install.sh"), ""]);
    mkdirSync(root);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the release build packs the compiled agent, examples and install.sh, signed, with no TypeScript", () => {
    const m = JSON.parse(readFileSync(manifest, "utf8")) as { name: string; kind: string; version: string; platform: string };
    expect(m).toMatchObject({ name: "edge-agent", kind: "agent", version: VERSION, platform: PLATFORM });
    const list = spawnSync("tar", ["-tzf", archive], { encoding: "utf8" }).stdout.split("\n");
    for (const f of ["dist/agent/cli/main.js", "package.json", "package-lock.json", "agent/config/examples/installed.yaml", "scripts/install.sh"]) expect(list).toContain(f);
    expect(list.filter((f) => f.endsWith(".ts") || f.endsWith(".map") || f.startsWith("dist/scripts/"))).toEqual([]);
  });

  it("refuses an old Node.js, an unsigned archive and a tampered one, installing nothing", () => {
    const oldNode = join(dir, "node18");
    writeFileSync(oldNode, "#!/bin/sh\necho 18.19.1\n");
    chmodSync(oldNode, 0o755);
    const old = install([...release, "--node", oldNode]);
    expect(old.code).toBe(1);
    expect(old.stderr).toContain("Node.js 18.19.1 at");
    expect(old.stderr).toContain("needs Node.js 20 or newer");

    const bare = join(dir, "bare");
    mkdirSync(bare);
    copyFileSync(archive, join(bare, `${NAME}.tar.gz`));
    const unsigned = install(["--release", join(bare, `${NAME}.tar.gz`)]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain("no manifest for");

    const bad = join(dir, "tampered");
    mkdirSync(bad);
    const bytes = readFileSync(archive);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    writeFileSync(join(bad, `${NAME}.tar.gz`), bytes);
    for (const f of [".manifest.json", ".manifest.json.sig"]) copyFileSync(join(out, NAME + f), join(bad, NAME + f));
    const tampered = install(["--release", join(bad, `${NAME}.tar.gz`), "--root-of-trust", trust.rootFile, ...verifier]);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toContain("OTA_SHA256");
    expect(tampered.stderr).toContain("did not verify: nothing was installed");
    expect(readdirSync(root)).toEqual([]);
  });

  it("installs: user in dialout, layout, owners and modes, hardened unit, config from the example, identity", () => {
    const r = install(release);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`verified: edge-agent ${VERSION}`);
    expect(r.stderr).toContain("would run: systemctl daemon-reload");
    expect(r.stderr).toContain("would run: systemctl restart edge-agent");

    const uid = idOf(root, "passwd", "edge-agent");
    const gid = idOf(root, "group", "edge-agent");
    const ea = `${uid}:${gid}`;
    expect(readFileSync(join(root, "etc", "group"), "utf8")).toMatch(/^dialout:x:\d+:edge-agent$/m);
    expect(readFileSync(join(root, "etc", "passwd"), "utf8")).toMatch(/^edge-agent:x:\d+:\d+:[^:]*:\/var\/lib\/edge-agent:\/usr\/sbin\/nologin$/m);

    const opt = join(root, "opt", "edge-agent");
    expect(readlinkSync(join(opt, "current"))).toBe(`releases/${VERSION}`);
    expect(readlinkSync(join(opt, "ota"))).toBe("/var/lib/edge-agent/ota");
    expect(existsSync(join(opt, "previous"))).toBe(false);
    expect([mode(opt), owner(opt)]).toEqual(["0755", ea]);
    expect([mode(join(opt, "releases", VERSION)), owner(join(opt, "releases", VERSION))]).toEqual(["0755", ea]);
    expect(owner(join(opt, "releases", VERSION, "dist", "agent", "cli", "main.js"))).toBe(ea);
    expect(owner(join(opt, "supervisor", "dist", "agent", "cli", "main.js"))).toBe("0:0");
    expect(readFileSync(join(opt, "supervisor", "dist", "agent", "cli", "main.js"))).toEqual(readFileSync(join(REPO, "dist", "agent", "cli", "main.js")));

    const etc = join(root, "etc", "edge-agent");
    expect([mode(etc), owner(etc)]).toEqual(["0750", `0:${gid}`]);
    expect([mode(join(etc, "certs")), owner(join(etc, "certs"))]).toEqual(["0750", `0:${gid}`]);
    expect([mode(join(etc, "config.yaml")), owner(join(etc, "config.yaml"))]).toEqual(["0640", `0:${gid}`]);
    expect(readFileSync(join(etc, "config.yaml"), "utf8")).toBe(readFileSync(join(REPO, "agent", "config", "examples", "installed.yaml"), "utf8"));
    expect(readFileSync(join(etc, "root.json"))).toEqual(readFileSync(trust.rootFile));

    const data = join(root, "var", "lib", "edge-agent");
    expect([mode(data), owner(data)]).toEqual(["0750", ea]);
    expect([mode(join(data, "ota")), owner(join(data, "ota"))]).toEqual(["0750", ea]);
    // The identity is made at install, as the service user's 0600 file, and printed for the operator.
    expect([mode(join(data, "identity.json")), owner(join(data, "identity.json"))]).toEqual(["0600", ea]);
    expect(r.stderr).toMatch(/^id: gw-[0-9a-f]{12}$/m);

    const unit = readFileSync(join(root, "etc", "systemd", "system", "edge-agent.service"), "utf8");
    expect(mode(join(root, "etc", "systemd", "system", "edge-agent.service"))).toBe("0644");
    expect(unit).toContain(`ExecStart=${process.execPath} /opt/edge-agent/supervisor/dist/agent/cli/main.js supervise --install-root /opt/edge-agent --config /etc/edge-agent/config.yaml`);
    for (const line of [
      "User=edge-agent",
      "SupplementaryGroups=dialout",
      "Restart=always",
      "Type=notify",
      "NotifyAccess=all",
      "WatchdogSec=60s",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ReadWritePaths=/opt/edge-agent /var/lib/edge-agent",
      "ReadOnlyPaths=/opt/edge-agent/supervisor",
      "PrivateTmp=yes",
      "ProtectHome=yes",
      "CapabilityBoundingSet=",
    ]) {
      expect(unit.split("\n")).toContain(line);
    }
    expect(unit).not.toContain(root);
    // systemd's own parser: an unknown key or a bad value is a warning systemd ignores at boot.
    const verify = spawnSync("systemd-analyze", ["verify", join(root, "etc", "systemd", "system", "edge-agent.service")], { encoding: "utf8" });
    expect(verify.error, "systemd-analyze (Debian package systemd) is needed; .ci/run installs it").toBeUndefined();
    expect(`${verify.stdout}${verify.stderr}`.trim()).toBe("");
    const wrapper = readFileSync(join(root, "usr", "local", "bin", "edge-agent"), "utf8");
    expect(wrapper).toContain(`exec ${process.execPath} /opt/edge-agent/current/dist/agent/cli/main.js "$@"`);
  });

  it("a second run with the same release changes nothing, and never overwrites the config", () => {
    const before = listing(root);
    const again = install(release);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain("nothing changed");
    expect(again.stderr).toContain("would run: systemctl start edge-agent");
    expect(again.stderr).not.toContain("daemon-reload");
    expect(listing(root)).toEqual(before);

    const config = join(root, "etc", "edge-agent", "config.yaml");
    writeFileSync(config, "version: 1\n# the operator's own\n");
    expect(install(release).code).toBe(0);
    expect(readFileSync(config, "utf8")).toBe("version: 1\n# the operator's own\n");
  });

  it("uninstall keeps configuration and data; --purge removes them and the user", () => {
    const u = install(["uninstall"]);
    expect(u.code, u.stderr).toBe(0);
    expect(existsSync(join(root, "opt", "edge-agent"))).toBe(false);
    expect(existsSync(join(root, "etc", "systemd", "system", "edge-agent.service"))).toBe(false);
    expect(existsSync(join(root, "usr", "local", "bin", "edge-agent"))).toBe(false);
    expect(existsSync(join(root, "etc", "edge-agent", "config.yaml"))).toBe(true);
    expect(existsSync(join(root, "var", "lib", "edge-agent", "identity.json"))).toBe(true);
    const identity = readFileSync(join(root, "var", "lib", "edge-agent", "identity.json"));

    // Reinstalling after an uninstall finds the same identity: the gateway keeps its id.
    expect(install(release).code).toBe(0);
    expect(readFileSync(join(root, "var", "lib", "edge-agent", "identity.json"))).toEqual(identity);

    const p = install(["uninstall", "--purge"]);
    expect(p.code, p.stderr).toBe(0);
    for (const gone of ["opt/edge-agent", "etc/edge-agent", "var/lib/edge-agent"]) expect(existsSync(join(root, gone))).toBe(false);
    expect(readFileSync(join(root, "etc", "passwd"), "utf8")).not.toContain("edge-agent");
    expect(readFileSync(join(root, "etc", "group"), "utf8")).toMatch(/^dialout:x:\d+:$/m);
  });
});
