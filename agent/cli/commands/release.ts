import { createReadStream, statSync } from "node:fs";
import { resolve } from "node:path";
import { EXIT, UsageError, type Command, type OptionValues } from "../command.js";
import { failOnEdgeError, list, parseExpiry, print, readInput, required, str } from "./ota-args.js";

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

function oneOf<T extends string>(values: OptionValues, name: string, allowed: readonly T[]): T | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(", ")}, got "${v}"`);
  return v as T;
}

async function pack(values: OptionValues, args: string[]): Promise<number> {
  const [dir, ...rest] = args;
  if (!dir || rest.length > 0) throw new UsageError("release pack takes one DIR (the folder to release)");
  const { KINDS, PLATFORMS } = await import("../../ota/manifest.js");
  const { isSemver } = await import("../../ota/semver.js");
  const { packRelease } = await import("../../ota/pack.js");
  const name = required(values, "name", "release pack");
  const kind = oneOf(values, "kind", KINDS);
  if (!kind) throw new UsageError(`release pack needs --kind ${KINDS.join("|")}`);
  const version = required(values, "version", "release pack");
  if (!isSemver(version)) throw new UsageError(`--version must be a semantic version like 1.4.2, got "${version}"`);
  const platform = oneOf(values, "platform", PLATFORMS) ?? (kind === "config" ? "any" : undefined);
  // An agent release carries native modules (better-sqlite3, serialport): its platform must be said.
  if (!platform) throw new UsageError(`an agent release needs --platform ${PLATFORMS.join("|")}`);
  const minVersion = str(values, "min-version") ?? null;
  if (minVersion !== null && !isSemver(minVersion)) throw new UsageError(`--min-version must be a semantic version, got "${minVersion}"`);
  const out = resolve(required(values, "out", "release pack"));
  if (!out.endsWith(".tar.gz")) throw new UsageError(`--out must name a .tar.gz file, got "${out}"`);
  const now = new Date();
  let last = Date.now();
  const result = await packRelease({
    dir: resolve(dir),
    out,
    name,
    kind,
    version,
    platform,
    created: now,
    expires: parseExpiry(values, "expires", "90d", now),
    minVersion,
    groups: list(values, "groups"),
    onProgress(p) {
      // Progress goes to stderr, at most once a second, so stdout stays the result alone.
      const t = Date.now();
      if (t - last < 1000) return;
      last = t;
      const pct = p.totalBytes ? Math.floor((100 * p.bytes) / p.totalBytes) : 100;
      process.stderr.write(`packing: ${p.files}/${p.totalFiles} files, ${mb(p.bytes)} of ${mb(p.totalBytes)} (${pct}%)\n`);
    },
  });
  const m = result.manifest;
  print(`archive:  ${result.archive} (${m.size} bytes, ${result.entries} entries)`);
  print(`manifest: ${result.manifestFile}`);
  print(`release:  ${m.name} ${m.version} (${m.kind}, ${m.platform}), sha256 ${m.sha256}, expires ${m.expires}${m.minVersion ? `, needs ${m.minVersion}+` : ""}${m.groups.length ? `, groups ${m.groups.join(",")}` : ""}`);
  print(`next: edge-agent release sign ${result.manifestFile} --key KEYFILE`);
  return EXIT.ok;
}

async function sign(values: OptionValues, args: string[]): Promise<number> {
  const [file, ...rest] = args;
  if (!file || rest.length > 0) throw new UsageError("release sign takes one MANIFEST (NAME.manifest.json)");
  const keyFiles = list(values, "key");
  if (keyFiles.length === 0) throw new UsageError("release sign needs --key KEYFILE");
  const { releaseFiles, readSignatures, addSignature, encodeSignatureFile, decodeManifest } = await import("../../ota/manifest.js");
  const { readPrivateKeyFile } = await import("../../ota/keys.js");
  const { writeFileAtomic } = await import("../../ota/atomic-file.js");
  const files = releaseFiles(file);
  const bytes = readInput(files.manifest, "the manifest");
  // Sign only what is a well-formed manifest: a signature over garbage would still be a signature.
  const manifest = decodeManifest(bytes, files.manifest);
  let sigs = readSignatures(files.signatures);
  for (const k of keyFiles) {
    const key = readPrivateKeyFile(k);
    sigs = addSignature(bytes, sigs, key);
    print(`signed ${manifest.name} ${manifest.version} with ${key.name} (${key.keyid.slice(0, 12)})`);
  }
  writeFileAtomic(files.signatures, encodeSignatureFile(sigs));
  print(`signatures: ${files.signatures} (${sigs.length} in all)`);
  return EXIT.ok;
}

async function verify(values: OptionValues, args: string[]): Promise<number> {
  const [file, ...rest] = args;
  if (!file || rest.length > 0) throw new UsageError("release verify takes one ARCHIVE or MANIFEST");
  const roots = list(values, "root");
  if (roots.length === 0) throw new UsageError("release verify needs --root ROOT.json (the root the device trusts; repeat --root for newer roots to walk)");
  const { releaseFiles, readSignatures, PLATFORMS } = await import("../../ota/manifest.js");
  const { readRootFile, walkRootChain } = await import("../../ota/root.js");
  const { verifyManifest, verifyPayload, currentPlatform } = await import("../../ota/verify.js");
  const { scanArchive } = await import("../../ota/unpack.js");
  const { VersionFloor } = await import("../../ota/version-floor.js");
  const { isSemver } = await import("../../ota/semver.js");
  const { OtaError } = await import("../../ota/errors.js");
  const installed = str(values, "installed-version") ?? null;
  if (installed !== null && !isSemver(installed)) throw new UsageError(`--installed-version must be a semantic version, got "${installed}"`);
  const platform = oneOf(values, "platform", PLATFORMS.filter((p) => p !== "any")) ?? currentPlatform();
  if (!platform) throw new UsageError(`this machine is not linux-arm64 or linux-x64: give --platform`);
  const files = releaseFiles(file);
  const now = new Date();

  const [trusted, ...newer] = roots.map((r) => readRootFile(r));
  if (!trusted) throw new UsageError("release verify needs --root ROOT.json");
  const chain = walkRootChain(trusted, newer, now);
  for (const s of chain.steps) print(`ok  ${s}`);

  const floorFile = str(values, "floor");
  const manifestBytes = readInput(files.manifest, "the manifest");
  const signatures = readSignatures(files.signatures);
  const floor = floorFile ? VersionFloor.open(floorFile) : null;
  if (installed === null) print("note: no --installed-version: checked as a first install");
  const { manifest } = verifyManifest({
    manifestBytes,
    signatures,
    root: chain.root.signed,
    device: { platform, groups: list(values, "group"), installedVersion: installed, floor },
    now,
    onStep: (s) => print(`ok  ${s}`),
  });
  const st = statSync(files.archive, { throwIfNoEntry: false });
  if (!st) throw new OtaError("OTA_NOT_FOUND", `archive ${files.archive} not found (the manifest alone checks out)`);
  const payload = await verifyPayload(createReadStream(files.archive), manifest);
  print(`ok  size: ${payload.bytes} bytes as signed`);
  print(`ok  sha256: ${payload.sha256}`);
  const scan = await scanArchive(createReadStream(files.archive));
  print(`ok  contents: ${scan.files} files, ${scan.directories} folders, ${scan.symlinks} symlinks, ${mb(scan.bytes)} unpacked; every path stays inside the release`);
  print(`verified: ${manifest.name} ${manifest.version} (${manifest.kind}, ${manifest.platform})`);
  return EXIT.ok;
}

export const releaseCommand: Command = {
  name: "release",
  summary: "Pack, sign and verify OTA releases (tar.gz + signed manifest)",
  help: `Usage: edge-agent release pack DIR --name NAME --kind agent|config --version V --out NAME.tar.gz
                            [--platform linux-arm64|linux-x64|any] [--expires 90d] [--min-version V] [--groups a,b]
       edge-agent release sign MANIFEST --key KEYFILE [--key KEYFILE...]
       edge-agent release verify ARCHIVE|MANIFEST --root ROOT.json [--root NEWER-ROOT.json...]
                            [--installed-version V] [--group G] [--platform P] [--floor FILE]

pack     packs the contents of DIR into NAME.tar.gz and writes NAME.manifest.json beside it (name,
         kind, version, platform, size, sha256, created, expires, minVersion, groups). An agent
         release needs --platform; a config release defaults to any. Refuses special files and
         symlinks that leave DIR, never overwrites. Progress goes to stderr.
sign     adds a detached signature to NAME.manifest.json.sig; several keys may sign, one after the
         other. The signature covers the manifest's exact bytes (canonical JSON).
verify   checks a release the way a device does, before anything is unpacked, and prints each check:
         root chain (first --root is trusted, later ones are walked one version at a time), release
         signatures, platform, group, expiry, newer than --installed-version and than the highest
         version in --floor, minVersion, then size and sha256 of the archive and its contents.

Exit code: 0 verified/done, 1 refused (the reason and its code, e.g. OTA_SHA256, on stderr), 2 usage error.`,
  options: {
    name: { type: "string" },
    kind: { type: "string" },
    version: { type: "string" },
    platform: { type: "string" },
    expires: { type: "string" },
    "min-version": { type: "string" },
    groups: { type: "string", multiple: true },
    out: { type: "string" },
    key: { type: "string", multiple: true },
    root: { type: "string", multiple: true },
    "installed-version": { type: "string" },
    group: { type: "string", multiple: true },
    floor: { type: "string" },
  },
  positionals: true,
  async run(values, positionals) {
    const [sub, ...args] = positionals;
    if (sub === "pack") return failOnEdgeError("release pack", () => pack(values, args));
    if (sub === "sign") return failOnEdgeError("release sign", () => sign(values, args));
    if (sub === "verify") return failOnEdgeError("release verify", () => verify(values, args));
    throw new UsageError(`release takes pack, sign or verify, got ${sub === undefined ? "nothing" : `"${sub}"`}`);
  },
};
