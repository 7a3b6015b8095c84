import { createHash, randomBytes } from "node:crypto";
import { closeSync, createReadStream, createWriteStream, existsSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { createFileExclusive, fsyncDir } from "./atomic-file.js";
import { checkLinkChains, normalizeEntryPath, resolveLinkTarget } from "./entry-policy.js";
import { OtaError } from "./errors.js";
import { encodeManifest, releaseFiles, type Manifest, type Platform, type ReleaseKind } from "./manifest.js";
import { endOfArchive, entryHeader, padding, type TarWriteEntry } from "./tar/writer.js";

export interface PackOptions {
  /** Folder whose contents become the release (the folder itself is not an entry). */
  dir: string;
  /** Archive to write: NAME.tar.gz; the manifest goes to NAME.manifest.json beside it. */
  out: string;
  name: string;
  kind: ReleaseKind;
  version: string;
  platform: Platform;
  created: Date;
  expires: Date;
  minVersion: string | null;
  groups: string[];
  onProgress?: (p: PackProgress) => void;
}

export interface PackProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  totalBytes: number;
}

export interface PackResult {
  manifest: Manifest;
  archive: string;
  manifestFile: string;
  entries: number;
}

interface SourceEntry extends TarWriteEntry {
  abs: string;
}

/**
 * Lists `dir` in a fixed (sorted) order and refuses what a device would refuse on unpack: special
 * files, absolute or escaping symlinks, link chains. Better to fail on the build machine than on
 * a thousand gateways.
 */
function walk(dir: string, mtime: number): SourceEntry[] {
  const out: SourceEntry[] = [];
  const links = new Map<string, string>();
  const visit = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const childAbs = join(abs, name);
      const childRel = rel ? `${rel}/${name}` : name;
      normalizeEntryPath(childRel);
      const st = lstatSync(childAbs);
      if (st.isDirectory()) {
        out.push({ abs: childAbs, path: childRel, type: "directory", size: 0, mode: 0o755, mtime });
        visit(childAbs, childRel);
      } else if (st.isFile()) {
        // Files with several hard links are packed as independent copies: no hardlink entries.
        out.push({ abs: childAbs, path: childRel, type: "file", size: st.size, mode: st.mode, mtime });
      } else if (st.isSymbolicLink()) {
        const target = readlinkSync(childAbs);
        resolveLinkTarget(childRel, target);
        links.set(childRel, target);
        out.push({ abs: childAbs, path: childRel, type: "symlink", size: 0, mode: 0o644, linkpath: target, mtime });
      } else {
        throw new OtaError("OTA_PACK", `${childAbs} is not a file, folder or symlink (device, fifo or socket); remove it from the release folder`);
      }
    }
  };
  visit(dir, "");
  checkLinkChains(links);
  return out;
}

async function* tarStream(entries: SourceEntry[], onData: (bytes: number, fileDone: boolean) => void): AsyncGenerator<Buffer> {
  for (const e of entries) {
    yield entryHeader(e);
    if (e.type !== "file") continue;
    let read = 0;
    for await (const chunk of createReadStream(e.abs, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>) {
      read += chunk.length;
      if (read > e.size) break;
      onData(chunk.length, false);
      yield chunk;
    }
    // The header already promised e.size bytes: a file that changed size mid-pack would corrupt the archive.
    if (read !== e.size) throw new OtaError("OTA_PACK", `${e.abs} changed while it was packed (${e.size} bytes listed, ${read} read); pack again`);
    onData(0, true);
    yield padding(e.size);
  }
  yield endOfArchive();
}

/**
 * Packs `dir` into a tar.gz and writes its manifest. Both files are written under temporary names and
 * appear only when complete; an existing archive or manifest is never overwritten.
 */
export async function packRelease(o: PackOptions): Promise<PackResult> {
  const files = releaseFiles(o.out);
  if (files.archive !== o.out) throw new OtaError("OTA_PACK", `--out must end in .tar.gz, got ${o.out}`);
  for (const f of [files.archive, files.manifest]) if (existsSync(f)) throw new OtaError("OTA_EXISTS", `${f} already exists; refusing to overwrite it`);
  if (!statSync(o.dir, { throwIfNoEntry: false })?.isDirectory()) throw new OtaError("OTA_PACK", `${o.dir} is not a folder`);
  mkdirSync(dirname(files.archive), { recursive: true });
  const mtime = Math.floor(o.created.getTime() / 1000);
  const entries = walk(o.dir, mtime);
  const progress: PackProgress = { files: 0, totalFiles: entries.filter((e) => e.type === "file").length, bytes: 0, totalBytes: entries.reduce((n, e) => n + (e.type === "file" ? e.size : 0), 0) };

  const hash = createHash("sha256");
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const tmp = join(dirname(files.archive), `.${basename(files.archive)}.${randomBytes(6).toString("hex")}.tmp`);
  const source = Readable.from(
    tarStream(entries, (n, fileDone) => {
      progress.bytes += n;
      if (fileDone) progress.files++;
      o.onProgress?.(progress);
    }),
  );
  try {
    const out = createWriteStream(tmp, { flags: "wx", mode: 0o644 });
    await pipeline(source, createGzip({ level: 9 }), measure, out);
    const manifest: Manifest = {
      type: "release",
      name: o.name,
      kind: o.kind,
      version: o.version,
      platform: o.platform,
      size,
      sha256: hash.digest("hex"),
      created: o.created.toISOString(),
      expires: o.expires.toISOString(),
      minVersion: o.minVersion,
      groups: o.groups,
    };
    const bytes = encodeManifest(manifest);
    // The archive must be on disk before its manifest names it (createFileExclusive syncs the manifest).
    const fd = openSync(tmp, "r");
    fsyncSync(fd);
    closeSync(fd);
    try {
      linkSync(tmp, files.archive);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new OtaError("OTA_EXISTS", `${files.archive} already exists; refusing to overwrite it`);
      throw err;
    }
    try {
      createFileExclusive(files.manifest, bytes);
    } catch (err) {
      rmSync(files.archive, { force: true });
      throw err;
    }
    fsyncDir(dirname(files.archive));
    return { manifest, archive: files.archive, manifestFile: files.manifest, entries: entries.length };
  } finally {
    rmSync(tmp, { force: true });
  }
}
