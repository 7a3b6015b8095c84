import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateKey, sign, type PrivateKey, type Signature } from "../../agent/ota/keys.js";
import { encodeManifest, type Manifest, type Platform, type ReleaseKind } from "../../agent/ota/manifest.js";
import type { OtaOffer } from "../../agent/ota/messages.js";
import { packRelease } from "../../agent/ota/pack.js";
import { createRoot, encodeRootFile, signRoot, type SignedRoot } from "../../agent/ota/root.js";

/** The compiled project (tests run against dist, as the CLI tests do). */
export const DIST = fileURLToPath(new URL("../../dist/", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("../fixtures/ota/", import.meta.url));

export const YEAR = 365 * 86_400_000;

export interface Trust {
  rootKey: PrivateKey;
  releaseKeys: PrivateKey[];
  root: SignedRoot;
  rootFile: string;
}

/** A root of trust with one root key and `releaseKeys` release keys (threshold `threshold`). */
export function makeTrust(dir: string, o: { releaseKeys?: number; threshold?: number } = {}): Trust {
  const rootKey = generateKey("root");
  const releaseKeys = Array.from({ length: o.releaseKeys ?? 1 }, (_, i) => generateKey(`release${i}`));
  const root = signRoot(createRoot({ version: 1, expires: new Date(Date.now() + YEAR), rootKeys: [rootKey], rootThreshold: 1, releaseKeys, releaseThreshold: o.threshold ?? 1 }), rootKey);
  mkdirSync(dir, { recursive: true });
  const rootFile = join(dir, "root.json");
  writeFileSync(rootFile, encodeRootFile(root));
  return { rootKey, releaseKeys, root, rootFile };
}

/** How the fake agent in a release behaves once the supervisor starts it. */
export type FakeBehavior = "healthy" | "crash" | "unhealthy" | "hang";

/**
 * A release folder whose dist/agent/cli/main.js acts like an agent: it logs its start to
 * $FAKE_AGENT_LOG, reports health over IPC (or crashes at start, or never becomes healthy), exits when
 * its parent goes, and runs the real updater when $FAKE_AGENT_UPDATER names a driver module.
 */
export function fakeReleaseDir(parent: string, version: string, behavior: FakeBehavior): string {
  const dir = join(parent, `src-${version}-${behavior}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "dist", "agent", "cli"), { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "edge-agent", version, type: "module" }) + "\n");
  const main = readFileSync(join(FIXTURES, "fake-agent.mjs"), "utf8").replace("__VERSION__", version).replace("__BEHAVIOR__", behavior);
  writeFileSync(join(dir, "dist", "agent", "cli", "main.js"), main);
  return dir;
}

/** Installs a fake release directly (the factory image): releases/<v>/ and `current` pointing at it. */
export function installBase(installRoot: string, version: string, behavior: FakeBehavior = "healthy"): void {
  const src = fakeReleaseDir(join(installRoot, ".."), version, behavior);
  const target = join(installRoot, "releases", version);
  mkdirSync(join(installRoot, "releases"), { recursive: true });
  rmSync(target, { recursive: true, force: true });
  mkdirSync(join(target, "dist", "agent", "cli"), { recursive: true });
  writeFileSync(join(target, "package.json"), readFileSync(join(src, "package.json")));
  writeFileSync(join(target, "dist", "agent", "cli", "main.js"), readFileSync(join(src, "dist", "agent", "cli", "main.js")));
  symlinkSync(`releases/${version}`, join(installRoot, "current"));
}

export interface BuiltRelease {
  archive: Buffer;
  manifest: Manifest;
  manifestBytes: Buffer;
  signatures: Signature[];
}

export interface ReleaseOptions {
  version: string;
  /** The product name in the manifest (default "edge-agent"). */
  name?: string;
  behavior?: FakeBehavior;
  kind?: ReleaseKind;
  platform?: Platform;
  groups?: string[];
  expires?: Date;
  minVersion?: string | null;
  /** Keys that sign (default: the first release key). */
  signers?: PrivateKey[];
  /** A ready folder instead of a fake agent. */
  dir?: string;
}

let counter = 0;

/** Packs and signs a release with the real library. */
export async function buildRelease(work: string, trust: Trust, o: ReleaseOptions): Promise<BuiltRelease> {
  const dir = o.dir ?? fakeReleaseDir(work, o.version, o.behavior ?? "healthy");
  const out = join(work, `out-${++counter}`, `edge-agent-${o.version}.tar.gz`);
  const packed = await packRelease({
    dir,
    out,
    name: o.name ?? "edge-agent",
    kind: o.kind ?? "agent",
    version: o.version,
    platform: o.platform ?? "any",
    created: new Date(Date.now() - 60_000),
    expires: o.expires ?? new Date(Date.now() + YEAR),
    minVersion: o.minVersion ?? null,
    groups: o.groups ?? [],
  });
  const manifestBytes = encodeManifest(packed.manifest);
  const signers = o.signers ?? [trust.releaseKeys[0]!];
  return { archive: readFileSync(out), manifest: packed.manifest, manifestBytes, signatures: signers.map((k) => sign(manifestBytes, k)) };
}

/** A manifest signed as given (for expired manifests, which packRelease would not write). */
export function resign(r: BuiltRelease, patch: Partial<Manifest>, signers: PrivateKey[]): BuiltRelease {
  const manifest = { ...r.manifest, ...patch };
  const manifestBytes = encodeManifest(manifest);
  return { ...r, manifest, manifestBytes, signatures: signers.map((k) => sign(manifestBytes, k)) };
}

export function offerOf(r: BuiltRelease, url: string, o: { offerId?: string; rolloutId?: string; roots?: SignedRoot[] } = {}): OtaOffer {
  const offer: OtaOffer = { v: 1, offerId: o.offerId ?? `offer-${++counter}`, manifest: r.manifestBytes.toString("base64"), signatures: r.signatures, url };
  if (o.rolloutId) offer.rolloutId = o.rolloutId;
  if (o.roots) offer.roots = o.roots.map((root) => Buffer.from(encodeRootFile(root)).toString("base64"));
  return offer;
}

export type Behaviour = "normal" | "truncate-once" | "endless" | "stall" | "trickle" | "no-range";

export interface FileServer {
  url(name: string): string;
  /** Every request: path and Range header. */
  requests: Array<{ path: string; range: string | undefined }>;
  put(name: string, data: Buffer, behaviour?: Behaviour): void;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 (port 0) serving release archives, with misbehaviours on demand. */
export async function startFileServer(): Promise<FileServer> {
  const files = new Map<string, { data: Buffer; behaviour: Behaviour; served: number }>();
  const requests: FileServer["requests"] = [];
  const timers = new Set<NodeJS.Timeout>();
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").slice(1);
    requests.push({ path, range: req.headers.range });
    const f = files.get(path);
    if (!f) {
      res.writeHead(404).end("not found");
      return;
    }
    f.served++;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = m && f.behaviour !== "no-range" ? Number(m[1]) : 0;
    const body = f.data.subarray(start);
    const headers: Record<string, string | number> = { "content-type": "application/gzip" };
    if (start > 0) headers["content-range"] = `bytes ${start}-${f.data.length - 1}/${f.data.length}`;
    if (f.behaviour === "endless") {
      // No length: the body keeps coming past the signed size.
      res.writeHead(200, headers);
      const chunk = Buffer.alloc(16 * 1024, 7);
      const pump = () => {
        while (res.write(chunk)) if (res.destroyed) return;
        res.once("drain", pump);
      };
      res.on("close", () => res.removeAllListeners("drain"));
      pump();
      return;
    }
    headers["content-length"] = body.length;
    res.writeHead(start > 0 ? 206 : 200, headers);
    if (f.behaviour === "truncate-once" && f.served === 1) {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
      return;
    }
    if (f.behaviour === "stall") {
      res.write(body.subarray(0, 10)); // then nothing, connection left open
      return;
    }
    if (f.behaviour === "trickle") {
      let i = 0;
      const t = setInterval(() => {
        if (res.destroyed || i >= body.length) {
          clearInterval(t);
          timers.delete(t);
          if (!res.destroyed) res.end();
          return;
        }
        res.write(body.subarray(i, i + 8));
        i += 8;
      }, 50);
      timers.add(t);
      return;
    }
    res.end(body);
  };
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    requests,
    put: (name, data, behaviour = "normal") => void files.set(name, { data, behaviour, served: 0 }),
    close: async () => {
      for (const t of timers) clearInterval(t);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
