import { gzipSync } from "node:zlib";
import { canonicalBytes } from "../../../agent/ota/canonical-json.js";
import { generateKey, sign, type PrivateKey } from "../../../agent/ota/keys.js";
import { encodeManifest, type Manifest } from "../../../agent/ota/manifest.js";
import { createRoot, signRoot, type SignedRoot } from "../../../agent/ota/root.js";

export const NOW = new Date("2030-01-01T00:00:00Z");
export const LATER = new Date("2031-01-01T00:00:00Z");

export function keys(n: number, prefix = "k"): PrivateKey[] {
  return Array.from({ length: n }, (_, i) => generateKey(`${prefix}${i}`));
}

/** A root signed by `signers` (defaults to its own root keys). */
export function makeRoot(o: { version: number; rootKeys: PrivateKey[]; rootThreshold?: number; releaseKeys: PrivateKey[]; releaseThreshold?: number; expires?: Date; signers?: PrivateKey[] }): SignedRoot {
  let root = createRoot({
    version: o.version,
    expires: o.expires ?? LATER,
    rootKeys: o.rootKeys,
    rootThreshold: o.rootThreshold ?? 1,
    releaseKeys: o.releaseKeys,
    releaseThreshold: o.releaseThreshold ?? 1,
  });
  for (const k of o.signers ?? o.rootKeys) root = signRoot(root, k);
  return root;
}

export function manifest(over: Partial<Manifest> = {}): Manifest {
  return {
    type: "release",
    name: "edge-agent",
    kind: "agent",
    version: "1.2.0",
    platform: "linux-arm64",
    size: 10,
    sha256: "0".repeat(64),
    created: "2029-12-01T00:00:00.000Z",
    expires: "2030-06-01T00:00:00.000Z",
    minVersion: null,
    groups: [],
    ...over,
  };
}

export function signed(m: Manifest, signers: PrivateKey[]): { manifestBytes: Buffer; signatures: ReturnType<typeof sign>[] } {
  const manifestBytes = encodeManifest(m);
  return { manifestBytes, signatures: signers.map((k) => sign(manifestBytes, k)) };
}

export { canonicalBytes };

/**
 * A tar writer of its own, independent of agent/ota/tar, that writes whatever it is told (absolute
 * paths, '..', devices, links): the hostile archives a device must refuse.
 */
export interface RawEntry {
  name: string;
  type?: "0" | "1" | "2" | "3" | "4" | "5" | "6" | "x" | "g" | "S";
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  /** Claimed size, when it should differ from the data length. */
  size?: number;
}

function field(buf: Buffer, off: number, len: number, s: string): void {
  Buffer.from(s, "utf8").copy(buf, off, 0, len);
}

export function rawTar(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = typeof e.data === "string" ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0));
    const h = Buffer.alloc(512);
    field(h, 0, 100, e.name);
    field(h, 100, 8, (e.mode ?? 0o644).toString(8).padStart(7, "0"));
    field(h, 108, 8, "0000000");
    field(h, 116, 8, "0000000");
    field(h, 124, 12, (e.size ?? data.length).toString(8).padStart(11, "0"));
    field(h, 136, 12, "00000000000");
    field(h, 156, 1, e.type ?? "0");
    field(h, 157, 100, e.linkname ?? "");
    field(h, 257, 6, "ustar");
    field(h, 263, 2, "00");
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    field(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (opts.end !== false) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function rawTarGz(entries: RawEntry[], opts: { end?: boolean } = {}): Buffer {
  return gzipSync(rawTar(entries, opts));
}
