import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { OtaError } from "./errors.js";
import type { Signature } from "./keys.js";
import { decodeManifest, type Manifest, type Platform } from "./manifest.js";
import { roleOf, type RootMetadata } from "./root.js";
import { compareSemver } from "./semver.js";
import { checkThreshold } from "./threshold.js";

/** What the device knows about itself when it judges a release. */
export interface DeviceFacts {
  /**
   * The product this device runs (release name, e.g. "edge-agent"); a release of another product is
   * refused even when the same vendor key signed it. Undefined = not checked (operator tools only).
   */
  product?: string | undefined;
  /** This device's platform (see currentPlatform()); never "any". */
  platform: Exclude<Platform, "any">;
  /** Groups this device belongs to (may be empty). */
  groups: readonly string[];
  /** Version currently installed for the release's kind; null when nothing is installed. */
  installedVersion: string | null;
  /**
   * Highest version ever committed, by release kind: a VersionFloor, or null when the device keeps
   * none. Looked up with the kind of the verified manifest, never one taken from unverified bytes.
   */
  floor: FloorLookup | null;
}

export interface FloorLookup {
  get(kind: string): string | null;
}

export interface VerifyManifestInput {
  manifestBytes: Uint8Array;
  signatures: readonly Signature[];
  /** The newest trusted root, after walkRootChain. */
  root: RootMetadata;
  device: DeviceFacts;
  now: Date;
  /** Called with each check as it passes (so a refusal can be shown after what did pass). */
  onStep?: (line: string) => void;
}

export interface VerifiedManifest {
  manifest: Manifest;
  /** One line per passed check, in order. */
  steps: string[];
}

/** The platform string of the running machine, or undefined on one releases are not built for. */
export function currentPlatform(): Exclude<Platform, "any"> | undefined {
  if (process.platform !== "linux") return undefined;
  if (process.arch === "arm64") return "linux-arm64";
  if (process.arch === "x64") return "linux-x64";
  return undefined;
}

/**
 * Every check on a manifest, in a fixed order, before a single byte of the archive is read. Each
 * failure throws an OtaError with its own code. The order matters: nothing in the manifest is
 * believed until the signatures are checked, so a forged manifest is refused as forged, never as
 * "wrong platform".
 */
export function verifyManifest(input: VerifyManifestInput): VerifiedManifest {
  const { manifestBytes, signatures, root, device, now } = input;
  const steps: string[] = [];
  const pass = (line: string) => {
    steps.push(line);
    input.onStep?.(line);
  };

  // 1. Signatures: a threshold of distinct release keys of the current root. Stops forged or
  //    tampered manifests, and any key the root no longer lists (revoked by rotation).
  const sigs = checkThreshold(manifestBytes, signatures, roleOf(root.release));
  if (!sigs.met) {
    const detail = [
      `${sigs.validKeyids.length} valid signature(s) by trusted release keys, ${sigs.threshold} required`,
      sigs.badKeyids.length ? `${sigs.badKeyids.length} signature(s) did not verify (tampered manifest?)` : "",
      sigs.unknownKeyids.length ? `${sigs.unknownKeyids.length} by keys root v${root.version} does not trust (${sigs.unknownKeyids.map((k) => k.slice(0, 12)).join(", ")})` : "",
    ].filter(Boolean);
    throw new OtaError("OTA_SIGNATURE", `manifest signatures do not meet the release threshold: ${detail.join("; ")}`);
  }
  pass(`signatures: ${sigs.validKeyids.length} of ${sigs.threshold} required release key(s) of root v${root.version} (${sigs.validKeyids.map((k) => k.slice(0, 12)).join(", ")})`);

  const manifest = decodeManifest(manifestBytes);
  pass(`manifest: ${manifest.name} ${manifest.version} (${manifest.kind}), ${manifest.size} bytes`);

  // 1b. Product: a vendor signs releases of several products with one key; a validly signed release of
  //     another product must not install here.
  if (device.product !== undefined && manifest.name !== device.product) {
    throw new OtaError("OTA_PRODUCT", `release is of "${manifest.name}", this device runs "${device.product}"`);
  }
  if (device.product !== undefined) pass(`product: ${manifest.name}`);

  // 2. Platform: native modules built for another CPU would crash the agent after the switch.
  if (manifest.platform !== "any" && manifest.platform !== device.platform) {
    throw new OtaError("OTA_PLATFORM", `release is for ${manifest.platform}, this device is ${device.platform}`);
  }
  pass(`platform: ${manifest.platform} fits ${device.platform}`);

  // 3. Group: a release signed for the pilot line must not be replayed to the whole plant.
  if (manifest.groups.length > 0 && !device.groups.some((g) => manifest.groups.includes(g))) {
    throw new OtaError("OTA_GROUP", `release targets group(s) ${manifest.groups.join(", ")}; this device is in ${device.groups.length ? device.groups.join(", ") : "no group"}`);
  }
  pass(`groups: ${manifest.groups.length ? `${manifest.groups.join(", ")} includes ${device.groups.filter((g) => manifest.groups.includes(g)).join(", ")}` : "all devices"}`);

  // 4. Expiry: a freeze attack replays an old, validly signed release long after it was withdrawn.
  if (!(now.getTime() < Date.parse(manifest.expires))) throw new OtaError("OTA_EXPIRED", `release expired on ${manifest.expires}`);
  pass(`expires: ${manifest.expires} (not expired)`);

  // 5. Anti-rollback: an old signed release with a known hole must never be installable again, neither
  //    over the installed version nor over anything this device ever committed.
  if (device.installedVersion !== null && compareSemver(manifest.version, device.installedVersion) <= 0) {
    const same = compareSemver(manifest.version, device.installedVersion) === 0;
    throw new OtaError("OTA_NOT_NEWER", `release ${manifest.version} is ${same ? "the installed version" : `older than the installed ${device.installedVersion}`}; only a newer version is installed`);
  }
  const floor = device.floor?.get(manifest.kind) ?? null;
  if (floor !== null && compareSemver(manifest.version, floor) <= 0) {
    throw new OtaError("OTA_ROLLBACK", `release ${manifest.version} is not newer than ${floor}, the highest ${manifest.kind} version this device has committed (rollback refused)`);
  }
  pass(`version: ${manifest.version} > installed ${device.installedVersion ?? "(none)"} and > highest committed ${floor ?? "(none)"}`);

  // 6. minVersion: some releases carry migrations that only work from a given version on.
  if (manifest.minVersion !== null) {
    if (device.installedVersion === null) throw new OtaError("OTA_MIN_VERSION", `release needs version ${manifest.minVersion} or later installed; nothing is installed`);
    if (compareSemver(device.installedVersion, manifest.minVersion) < 0) {
      throw new OtaError("OTA_MIN_VERSION", `release needs version ${manifest.minVersion} or later installed; this device runs ${device.installedVersion}`);
    }
    pass(`minVersion: installed ${device.installedVersion} >= ${manifest.minVersion}`);
  } else {
    pass("minVersion: none");
  }
  return { manifest, steps };
}

export interface PayloadCheck {
  bytes: number;
  sha256: string;
}

/**
 * Hashes the archive as it streams and compares size and sha256 with the signed manifest. Reading
 * stops, and the stream is destroyed, as soon as more than `size` bytes arrived: an endless or huge
 * download (a disk-filling attack) costs at most one chunk beyond the signed size.
 */
export async function verifyPayload(stream: Readable | AsyncIterable<Uint8Array>, expected: Pick<Manifest, "size" | "sha256">): Promise<PayloadCheck> {
  const hash = createHash("sha256");
  let bytes = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      if (bytes > expected.size) {
        throw new OtaError("OTA_SIZE", `archive is larger than the ${expected.size} bytes the manifest signs; stopped reading at ${bytes}`);
      }
      hash.update(chunk);
    }
  } finally {
    // Breaking out of for-await already destroys a Readable; this also covers plain async iterables.
    if ("destroy" in stream && typeof stream.destroy === "function" && !stream.destroyed) stream.destroy();
  }
  if (bytes < expected.size) throw new OtaError("OTA_SIZE", `archive is ${bytes} bytes, the manifest signs ${expected.size} (truncated download?)`);
  const sha256 = hash.digest("hex");
  if (sha256 !== expected.sha256) throw new OtaError("OTA_SHA256", `archive sha256 ${sha256} does not match the signed sha256 ${expected.sha256}`);
  return { bytes, sha256 };
}
