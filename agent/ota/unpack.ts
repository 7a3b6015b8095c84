import { randomBytes } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, open, rename, rm, symlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, pipeline } from "node:stream";
import { createGunzip } from "node:zlib";
import { fsyncDir } from "./atomic-file.js";
import { checkLinkChains, normalizeEntryPath, parentsOf, resolveLinkTarget, sanitizeMode } from "./entry-policy.js";
import { OtaError } from "./errors.js";
import { readTar } from "./tar/reader.js";

export interface UnpackLimits {
  /** Most entries (files, folders, links) an archive may hold. */
  maxEntries: number;
  /** Most bytes all files together may expand to (stops gzip bombs filling the disk). */
  maxBytes: number;
}

export const DEFAULT_UNPACK_LIMITS: UnpackLimits = { maxEntries: 200_000, maxBytes: 4 * 1024 ** 3 };

export interface UnpackOptions {
  limits?: Partial<UnpackLimits>;
  /** fsync every file and folder before the final rename (default true; tests may skip it). */
  fsync?: boolean;
  onProgress?: (p: { entries: number; bytes: number }) => void;
}

export interface UnpackResult {
  entries: number;
  bytes: number;
  files: number;
  directories: number;
  symlinks: number;
}

/** Where an entry goes; in a dry run nothing is written. */
interface Sink {
  directory(path: string): Promise<void>;
  file(path: string, mode: number, data: AsyncIterable<Buffer>): Promise<void>;
  symlink(path: string, target: string): Promise<void>;
}

/**
 * Reads a tar.gz and applies the release entry policy to every entry before anything of it is
 * written. The first violation stops everything.
 */
async function extract(source: AsyncIterable<Uint8Array>, sink: Sink, options: UnpackOptions): Promise<UnpackResult> {
  const limits = { ...DEFAULT_UNPACK_LIMITS, ...options.limits };
  const result: UnpackResult = { entries: 0, bytes: 0, files: 0, directories: 0, symlinks: 0 };
  const seen = new Map<string, "file" | "directory" | "symlink">();
  const links = new Map<string, string>();
  const gunzip = createGunzip();
  // Destroying the gunzip (on a refused entry) tears the pipeline down and stops reading the input.
  pipeline(Readable.from(source, { objectMode: false }), gunzip, () => {});
  try {
    for await (const entry of readTar(gunzip, { maxMetaBytes: 64 * 1024 })) {
      if (++result.entries > limits.maxEntries) throw new OtaError("OTA_ARCHIVE_LIMIT", `archive has more than ${limits.maxEntries} entries`);
      if (entry.type === "hardlink") {
        // A hardlink to a file outside (or to a path a later entry replaces) writes through to it.
        throw new OtaError("OTA_ARCHIVE_LINK", `archive entry ${JSON.stringify(entry.path)} is a hardlink; releases may not contain hardlinks`);
      }
      if (entry.type !== "file" && entry.type !== "directory" && entry.type !== "symlink") {
        // A device node would give whoever runs the agent raw access to a disk or memory; a fifo can hang it.
        throw new OtaError("OTA_ARCHIVE_TYPE", `archive entry ${JSON.stringify(entry.path)} is a ${entry.type} (type '${entry.typeflag}'); only files, folders and relative symlinks are allowed`);
      }
      const path = normalizeEntryPath(entry.path);
      if (entry.type !== "file" && entry.size !== 0) throw new OtaError("OTA_ARCHIVE_CORRUPT", `archive entry ${JSON.stringify(entry.path)} is a ${entry.type} with data`);
      if (path === "") {
        if (entry.type === "directory") continue; // "./": the release folder itself
        throw new OtaError("OTA_ARCHIVE_PATH", `archive entry ${JSON.stringify(entry.path)} names the release folder itself`);
      }
      // Never write through a link: with "lib -> ." allowed, an entry "lib/x" is still checked against
      // the links we know, and a link may not replace a folder or file that is already there.
      for (const parent of parentsOf(path)) {
        const kind = seen.get(parent);
        if (kind === "symlink" || kind === "file") throw new OtaError("OTA_ARCHIVE_PATH", `archive entry ${JSON.stringify(entry.path)} goes through ${kind} ${JSON.stringify(parent)}`);
      }
      const before = seen.get(path);
      if (before !== undefined && !(before === "directory" && entry.type === "directory")) {
        // A second entry for one name is how "file, then symlink with the same name" tricks work.
        throw new OtaError("OTA_ARCHIVE_PATH", `archive has two entries for ${JSON.stringify(path)}`);
      }
      seen.set(path, entry.type);
      if (entry.type === "directory") {
        result.directories++;
        await sink.directory(path);
      } else if (entry.type === "symlink") {
        resolveLinkTarget(path, entry.linkpath);
        links.set(path, entry.linkpath);
        result.symlinks++;
        await sink.symlink(path, entry.linkpath);
      } else {
        if (result.bytes + entry.size > limits.maxBytes) {
          throw new OtaError("OTA_ARCHIVE_LIMIT", `archive expands to more than ${limits.maxBytes} bytes (at ${JSON.stringify(path)})`);
        }
        result.bytes += entry.size;
        result.files++;
        await sink.file(path, sanitizeMode(entry.mode, "file"), entry.data());
      }
      options.onProgress?.({ entries: result.entries, bytes: result.bytes });
    }
    checkLinkChains(links);
  } catch (err) {
    if (err instanceof OtaError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === "string" && code.startsWith("Z_")) throw new OtaError("OTA_ARCHIVE_CORRUPT", `archive is not valid gzip: ${(err as Error).message}`, { cause: err });
    throw err;
  } finally {
    gunzip.destroy();
  }
  return result;
}

/** Runs every unpack check on an archive without writing anything. */
export async function scanArchive(source: AsyncIterable<Uint8Array>, options: Omit<UnpackOptions, "fsync"> = {}): Promise<UnpackResult> {
  const sink: Sink = {
    async directory() {},
    async symlink() {},
    async file(_path, _mode, data) {
      for await (const _ of data) void _;
    },
  };
  return extract(source, sink, options);
}

/**
 * Unpacks a release archive into `target`, which must not exist. Everything is written into a hidden
 * temporary sibling and renamed into place at the end, so `target` either does not exist or holds the
 * complete release: an interrupted or refused unpack never leaves a half release that a supervisor
 * could mistake for a good one. On any failure the temporary folder is removed.
 *
 * Verify the archive (verifyPayload) before calling this: the policy checks here stop hostile archives,
 * but only the signed sha256 proves this is the release the operator built.
 */
export async function unpackArchive(source: AsyncIterable<Uint8Array> | string, target: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  if (existsSync(target)) throw new OtaError("OTA_TARGET_EXISTS", `${target} already exists; a release is unpacked into a new folder`);
  const durable = options.fsync ?? true;
  const tmp = join(dirname(target), `.${basename(target)}.partial-${randomBytes(6).toString("hex")}`);
  await mkdir(tmp, { mode: 0o755 });
  const dirs = new Set<string>([tmp]);
  const ensureParent = async (path: string) => {
    const dir = dirname(join(tmp, path));
    if (!dirs.has(dir)) {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      for (let d = dir; d.length > tmp.length; d = dirname(d)) dirs.add(d);
    }
  };
  const sink: Sink = {
    async directory(path) {
      await mkdir(join(tmp, path), { recursive: true, mode: 0o755 });
      for (let d = join(tmp, path); d.length > tmp.length; d = dirname(d)) dirs.add(d);
    },
    async symlink(path, target) {
      await ensureParent(path);
      await symlink(target, join(tmp, path));
    },
    async file(path, mode, data) {
      await ensureParent(path);
      // "wx" = O_CREAT|O_EXCL: never opens an existing file or follows a link at that name.
      const fh = await open(join(tmp, path), "wx", mode);
      try {
        for await (const chunk of data) await fh.write(chunk);
        await fh.chmod(mode); // the umask must not decide what a release's files may do
        if (durable) await fh.sync();
      } finally {
        await fh.close();
      }
    },
  };
  try {
    const src = typeof source === "string" ? createReadStream(source) : source;
    const result = await extract(src, sink, options);
    if (durable) for (const d of dirs) fsyncDir(d);
    if (existsSync(target)) throw new OtaError("OTA_TARGET_EXISTS", `${target} appeared while unpacking; leaving it alone`);
    await rename(tmp, target);
    if (durable) fsyncDir(dirname(target));
    return result;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (!(err instanceof OtaError) && (err as NodeJS.ErrnoException).code) {
      throw new OtaError("OTA_ARCHIVE_CORRUPT", `cannot unpack the archive: ${(err as Error).message}`, { cause: err });
    }
    throw err;
  }
}
