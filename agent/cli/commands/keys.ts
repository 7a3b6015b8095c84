import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { EXIT, UsageError, type Command, type OptionValues } from "../command.js";
import { failOnEdgeError, list, parseExpiry, positiveInt, print, required, str } from "./ota-args.js";

async function generate(values: OptionValues, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError("keys generate takes no argument (use --out DIR)");
  const dir = resolve(required(values, "out", "keys generate"));
  const name = str(values, "name") ?? "release";
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new UsageError(`--name must be letters, digits, '.', '_' or '-', got "${name}"`);
  const { generateKey, encodePrivateKeyFile, encodePublicKeyFile } = await import("../../ota/keys.js");
  const { createFileExclusive } = await import("../../ota/atomic-file.js");
  const { OtaError } = await import("../../ota/errors.js");
  const key = generateKey(name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, `${name}.key`);
  const pubFile = join(dir, `${name}.pub`);
  for (const f of [keyFile, pubFile]) {
    if (existsSync(f)) throw new OtaError("OTA_EXISTS", `${f} already exists; refusing to overwrite a key (choose another --name or --out)`);
  }
  // The private key file is created 0600 and never replaces an existing one (createFileExclusive).
  createFileExclusive(keyFile, encodePrivateKeyFile(key, new Date()), 0o600);
  createFileExclusive(pubFile, encodePublicKeyFile(key), 0o644);
  print(`private key: ${keyFile} (mode 0600: keep it offline, never on a gateway)`);
  print(`public key:  ${pubFile}`);
  print(`keyid:       ${key.keyid}`);
  return EXIT.ok;
}

async function root(values: OptionValues, args: string[]): Promise<number> {
  if (args.length > 0) throw new UsageError("keys root takes no argument (use --out FILE)");
  const out = resolve(required(values, "out", "keys root"));
  const rootKeyFiles = list(values, "keys");
  const releaseKeyFiles = list(values, "release-keys");
  if (rootKeyFiles.length === 0) throw new UsageError("keys root needs --keys ROOT.pub[,ROOT2.pub...] (the keys that may sign the next root)");
  if (releaseKeyFiles.length === 0) throw new UsageError("keys root needs --release-keys REL.pub[,...] (the keys that may sign releases)");
  const { readPublicKeyFile } = await import("../../ota/keys.js");
  const { createRoot, encodeRootFile, readRootFile } = await import("../../ota/root.js");
  const { createFileExclusive } = await import("../../ota/atomic-file.js");
  const previousFile = str(values, "previous");
  const previous = previousFile ? readRootFile(previousFile) : undefined;
  const explicit = positiveInt(values, "root-version");
  if (previous && explicit !== undefined && explicit !== previous.signed.version + 1) throw new UsageError(`--root-version ${explicit} does not follow --previous (version ${previous.signed.version})`);
  const version = explicit ?? (previous ? previous.signed.version + 1 : 1);
  const now = new Date();
  const made = createRoot({
    version,
    expires: parseExpiry(values, "expires", "1y", now),
    rootKeys: rootKeyFiles.map(readPublicKeyFile),
    rootThreshold: positiveInt(values, "threshold") ?? 1,
    releaseKeys: releaseKeyFiles.map(readPublicKeyFile),
    releaseThreshold: positiveInt(values, "release-threshold") ?? 1,
  });
  createFileExclusive(out, encodeRootFile(made));
  print(`root v${version} written to ${out} (unsigned), expires ${made.signed.expires}`);
  print(`  root keys: ${Object.keys(made.signed.root.keys).length}, threshold ${made.signed.root.threshold}; release keys: ${Object.keys(made.signed.release.keys).length}, threshold ${made.signed.release.threshold}`);
  if (previous) print(`next: sign it with ${previous.signed.root.threshold} root key(s) of v${previous.signed.version} AND ${made.signed.root.threshold} of its own:  edge-agent keys sign-root ${out} --key KEY`);
  else print(`next: sign it with ${made.signed.root.threshold} of its root keys:  edge-agent keys sign-root ${out} --key KEY`);
  return EXIT.ok;
}

async function signRootCmd(values: OptionValues, args: string[]): Promise<number> {
  const [file, ...rest] = args;
  if (!file || rest.length > 0) throw new UsageError("keys sign-root takes one ROOT.json");
  const keyFiles = list(values, "key");
  if (keyFiles.length === 0) throw new UsageError("keys sign-root needs --key KEYFILE");
  const { readPrivateKeyFile } = await import("../../ota/keys.js");
  const { signRoot, readRootFile, encodeRootFile, roleOf } = await import("../../ota/root.js");
  const { checkThreshold } = await import("../../ota/threshold.js");
  const { canonicalBytes } = await import("../../ota/canonical-json.js");
  const { writeFileAtomic } = await import("../../ota/atomic-file.js");
  let current = readRootFile(file);
  for (const k of keyFiles) {
    const key = readPrivateKeyFile(k);
    current = signRoot(current, key);
    print(`signed root v${current.signed.version} with ${key.name} (${key.keyid.slice(0, 12)})`);
  }
  writeFileAtomic(file, encodeRootFile(current));
  const own = checkThreshold(canonicalBytes(current.signed), current.signatures, roleOf(current.signed.root));
  print(`own root keys: ${own.validKeyids.length} of ${own.threshold} required${own.met ? " (met)" : ""}`);
  const previousFile = str(values, "previous");
  if (previousFile) {
    const previous = readRootFile(previousFile);
    const old = checkThreshold(canonicalBytes(current.signed), current.signatures, roleOf(previous.signed.root));
    print(`root keys of v${previous.signed.version}: ${old.validKeyids.length} of ${old.threshold} required${old.met ? " (met)" : ""}`);
  }
  return EXIT.ok;
}

export const keysCommand: Command = {
  name: "keys",
  summary: "Release signing keys and the root of trust: generate, create or rotate a root, sign it",
  help: `Usage: edge-agent keys generate --out DIR [--name NAME]
       edge-agent keys root --keys ROOT.pub[,...] [--threshold N] --release-keys REL.pub[,...]
                            [--release-threshold N] [--previous OLD-ROOT.json] [--expires 1y] --out ROOT.json
       edge-agent keys sign-root ROOT.json --key KEYFILE [--key KEYFILE...] [--previous OLD-ROOT.json]

generate    makes an Ed25519 key pair: DIR/NAME.key (private, mode 0600) and DIR/NAME.pub.
            NAME defaults to "release". Never overwrites an existing key.
root        writes an unsigned root: the root keys (which sign the next root) with their threshold,
            and the release keys (which sign releases) with theirs. Without --previous it is
            version 1 (or --root-version N); with --previous it is the next version of that root.
            --expires: a duration (90d, 2w, 1y; default 1y) or an ISO date.
sign-root   adds signatures to a root. A first root needs a threshold of its own root keys; a
            rotated root v(n+1) needs a threshold of v(n)'s root keys AND of its own. With
            --previous the count for the old root is shown too.

Thresholds count distinct keys: the same key listed twice, or signing twice, counts once.
A key left out of a new root is revoked: devices that accepted that root refuse what it signs.
Exit code: 0 done, 1 failed (an existing file, a bad key or root file), 2 usage error.`,
  options: {
    out: { type: "string" },
    name: { type: "string" },
    keys: { type: "string", multiple: true },
    threshold: { type: "string" },
    "release-keys": { type: "string", multiple: true },
    "release-threshold": { type: "string" },
    previous: { type: "string" },
    "root-version": { type: "string" },
    expires: { type: "string" },
    key: { type: "string", multiple: true },
  },
  positionals: true,
  async run(values, positionals) {
    const [sub, ...args] = positionals;
    if (sub === "generate") return failOnEdgeError("keys generate", () => generate(values, args));
    if (sub === "root") return failOnEdgeError("keys root", () => root(values, args));
    if (sub === "sign-root") return failOnEdgeError("keys sign-root", () => signRootCmd(values, args));
    throw new UsageError(`keys takes generate, root or sign-root, got ${sub === undefined ? "nothing" : `"${sub}"`}`);
  },
};
