import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { randomBytes } from "node:crypto";
import { OtaError } from "./errors.js";

function tempName(file: string): string {
  return join(dirname(file), `.${basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
}

function writeTemp(file: string, data: Uint8Array | string, mode: number): string {
  const tmp = tempName(file);
  const fd = openSync(tmp, "wx", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

/** fsync a directory so that a rename or a new name in it survives a power cut. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `file` atomically: temp file in the same folder, fsync, rename, fsync the folder. A reader
 * (or the next boot after a power cut) sees the old content or the new one, never half of each.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o644): void {
  const tmp = writeTemp(file, data, mode);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(file));
}

/**
 * Creates `file` with `data` only if no such file exists, atomically: link(2) fails on an existing
 * name, so a key or a release is never overwritten, and a crash never leaves a half-written one.
 */
export function createFileExclusive(file: string, data: Uint8Array | string, mode = 0o644): void {
  const tmp = writeTemp(file, data, mode);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new OtaError("OTA_EXISTS", `${file} already exists; refusing to overwrite it`, { cause: err });
    throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  fsyncDir(dirname(file));
}
