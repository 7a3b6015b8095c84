import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createFileExclusive } from "../ota/atomic-file.js";
import { sign, type PrivateKey } from "../ota/keys.js";
import { encodeSignatureFile, releaseFiles } from "../ota/manifest.js";
import { packRelease } from "../ota/pack.js";

/**
 * Demo releases for the fleet simulator (`edge-agent sim fleet-demo`) and the rollout end-to-end test:
 * a release folder holds only a package.json and a one-line entry point, so building three releases
 * takes milliseconds instead of copying the compiled project and its node_modules three times.
 */

/** "real": the entry point loads this checkout's compiled agent. "crash": it exits at once, as a broken build would. */
export type DemoReleaseBehavior = "real" | "crash";

/**
 * Writes a release folder at `dir` (replacing what was there) laid out as the supervisor expects
 * (dist/agent/cli/main.js). `agentMain` is the absolute path of the compiled CLI the "real" entry
 * point imports; the import keeps the supervisor's argv, so the real agent runs `run --config ...`.
 */
export function writeDemoReleaseDir(dir: string, version: string, behavior: DemoReleaseBehavior, agentMain: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "dist", "agent", "cli"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "edge-agent", version, type: "module" }) + "\n");
  const entry =
    behavior === "crash"
      ? `console.error("release ${version}: broken on purpose, exits at start");\nprocess.exit(3);\n`
      : `await import(${JSON.stringify(pathToFileURL(agentMain).href)});\n`;
  writeFileSync(join(dir, "dist", "agent", "cli", "main.js"), entry);
  return dir;
}

export interface PublishReleaseOptions {
  /** The fleet server's releases folder. */
  releasesDir: string;
  /** The release folder to pack. */
  dir: string;
  version: string;
  /** A release key the devices' root of trust lists. */
  signer: PrivateKey;
  /** agent (default) or config: a configuration bundle whose folder holds config.yaml. */
  kind?: "agent" | "config";
  /** Manifest expiry (default: 30 days from now). */
  expires?: Date;
}

/**
 * Packs `dir` straight into the releases folder and signs it: the three files the fleet serves
 * (NAME.tar.gz, NAME.manifest.json, NAME.manifest.json.sig). Returns the release's name
 * (`edge-agent-1.1.0`), which is what a rollout names. An existing release is never overwritten.
 */
export async function publishRelease(o: PublishReleaseOptions): Promise<string> {
  const name = `edge-agent-${o.version}`;
  const packed = await packRelease({
    dir: o.dir,
    out: join(o.releasesDir, `${name}.tar.gz`),
    name: "edge-agent",
    kind: o.kind ?? "agent",
    version: o.version,
    // The entry point is plain JS that loads the checkout's own dist, which already matches this machine.
    platform: "any",
    // A minute in the past, so a device whose clock is slightly behind does not see a manifest from the future.
    created: new Date(Date.now() - 60_000),
    expires: o.expires ?? new Date(Date.now() + 30 * 86_400_000),
    minVersion: null,
    groups: [],
  });
  // Sign the bytes exactly as written: the signature covers the file the fleet serves.
  const signature = sign(readFileSync(packed.manifestFile), o.signer);
  createFileExclusive(releaseFiles(packed.archive).signatures, encodeSignatureFile([signature]));
  return name;
}

export interface DemoGatewayOptions {
  /** The gateway's own folder: install root, data folder and config go inside. */
  dir: string;
  id: string;
  group: string;
  mqttUrl: string;
  /** The root of trust the gateway "shipped with". */
  trustRoot: string;
  /** The factory image: a release folder installed as releases/<factoryVersion> and made current. */
  factoryImage: string;
  factoryVersion: string;
  /** The agent's log level (default warn: a demo shows the fleet table, not every gateway's log). */
  logLevel?: string;
}

export interface DemoGateway {
  id: string;
  installRoot: string;
  configFile: string;
  dataDir: string;
}

/**
 * Lays out one simulated gateway as `edge-agent supervise` expects it: the factory image installed
 * and current, and a config with OTA on (trust root, group) and the local API off, since several
 * gateways on one machine would fight over one API port and the fleet is what the demo watches.
 */
export function installDemoGateway(o: DemoGatewayOptions): DemoGateway {
  const installRoot = join(o.dir, "install");
  const dataDir = join(o.dir, "data");
  const configFile = join(o.dir, "agent.yaml");
  mkdirSync(join(installRoot, "releases"), { recursive: true });
  // A copy, not a link: the supervisor prunes old releases after a commit and must own what it removes.
  cpSync(o.factoryImage, join(installRoot, "releases", o.factoryVersion), { recursive: true });
  symlinkSync(`releases/${o.factoryVersion}`, join(installRoot, "current"));
  // JSON strings are valid YAML scalars, so paths with spaces or colons need no extra quoting rules.
  const q = (s: string) => JSON.stringify(s);
  writeFileSync(
    configFile,
    `version: 1
device: { id: ${q(o.id)} }
dataDir: ${q(dataDir)}
log: { level: ${o.logLevel ?? "warn"} }
mqtt: { url: ${q(o.mqttUrl)} }
api: { enabled: false }
ota: { enabled: true, installRoot: ${q(installRoot)}, trustRoot: ${q(o.trustRoot)}, groups: [${o.group}] }
`,
  );
  return { id: o.id, installRoot, configFile, dataDir };
}
