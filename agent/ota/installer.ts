import { existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import { randomBytes } from "node:crypto";
import { fsyncDir } from "./atomic-file.js";
import { OtaError } from "./errors.js";
import type { ReleaseKind } from "./manifest.js";
import { isSemver } from "./semver.js";
import { unpackArchive, type UnpackOptions } from "./unpack.js";

/**
 * The install root, one folder per gateway:
 *
 *   releases/<version>/         agent releases, unpacked side by side
 *   current  -> releases/<v>    what the supervisor runs (switched atomically)
 *   previous -> releases/<v>    what it switches back to
 *   config-releases/<version>/  config bundles (kind "config"), same scheme:
 *   config-current, config-previous
 *   ota/state.json              the update state machine (state.ts)
 *   ota/floor.json              highest committed version per kind (VersionFloor)
 *   ota/root.json               newest trusted root after a rotation
 *   ota/downloads/              NAME.tar.gz(.part) while an update runs
 *   ota/outbox/                 status messages not yet published
 *
 * Links are relative, so the whole root can be moved or mounted elsewhere.
 */
export class InstallLayout {
  constructor(readonly root: string) {}

  releasesDir(kind: ReleaseKind): string {
    return join(this.root, kind === "agent" ? "releases" : "config-releases");
  }
  releaseDir(kind: ReleaseKind, version: string): string {
    if (!isSemver(version)) throw new OtaError("OTA_MANIFEST_INVALID", `not a version: ${JSON.stringify(version)}`);
    return join(this.releasesDir(kind), version);
  }
  currentLink(kind: ReleaseKind): string {
    return join(this.root, kind === "agent" ? "current" : "config-current");
  }
  previousLink(kind: ReleaseKind): string {
    return join(this.root, kind === "agent" ? "previous" : "config-previous");
  }
  get otaDir(): string {
    return join(this.root, "ota");
  }
  get stateFile(): string {
    return join(this.otaDir, "state.json");
  }
  get floorFile(): string {
    return join(this.otaDir, "floor.json");
  }
  get rootFile(): string {
    return join(this.otaDir, "root.json");
  }
  get downloadsDir(): string {
    return join(this.otaDir, "downloads");
  }
  get outboxDir(): string {
    return join(this.otaDir, "outbox");
  }
  /** The agent's entry point inside the current release. */
  get agentMain(): string {
    return join(this.currentLink("agent"), "dist", "agent", "cli", "main.js");
  }

  /** The version a link points at (its folder name), or null when the link does not exist. */
  linkedVersion(link: string): string | null {
    try {
      const name = basename(readlinkSync(link));
      return isSemver(name) ? name : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }
  currentVersion(kind: ReleaseKind): string | null {
    return this.linkedVersion(this.currentLink(kind));
  }
  previousVersion(kind: ReleaseKind): string | null {
    return this.linkedVersion(this.previousLink(kind));
  }
}

/** Points `link` at `target` in one rename: a reader sees the old link or the new one, never none. */
export function replaceSymlink(link: string, target: string): void {
  const tmp = join(dirname(link), `.${basename(link)}.${randomBytes(6).toString("hex")}.tmp`);
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, link);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(link));
}

function relTarget(layout: InstallLayout, kind: ReleaseKind, version: string): string {
  return `${basename(layout.releasesDir(kind))}/${version}`;
}

/**
 * Unpacks a verified archive into releases/<version>. A folder already there from an interrupted
 * install is removed first (the unpack itself is all-or-nothing), unless it is what `current` or
 * `previous` points at: those are never touched.
 */
export async function installRelease(layout: InstallLayout, kind: ReleaseKind, version: string, archive: string, options: UnpackOptions = {}): Promise<string> {
  const target = layout.releaseDir(kind, version);
  if (layout.currentVersion(kind) === version || layout.previousVersion(kind) === version) {
    throw new OtaError("OTA_TARGET_EXISTS", `${target} is the current or previous release; refusing to replace it`);
  }
  mkdirSync(layout.releasesDir(kind), { recursive: true });
  if (existsSync(target)) rmSync(target, { recursive: true, force: true });
  try {
    await unpackArchive(archive, target, options);
  } catch (err) {
    const code = (err as { cause?: NodeJS.ErrnoException }).cause?.code;
    if (code === "ENOSPC" || code === "EDQUOT" || code === "EIO" || code === "EROFS") {
      throw new OtaError("OTA_DISK", `cannot unpack into ${target}: ${code}`, { cause: err });
    }
    throw err;
  }
  return target;
}

/**
 * current -> releases/<version>, previous -> what current was. Idempotent: running it again after a
 * crash half-way (previous moved, current not yet) ends in the same place.
 */
export function switchTo(layout: InstallLayout, kind: ReleaseKind, version: string, fromVersion: string | null): void {
  const target = layout.releaseDir(kind, version);
  if (!existsSync(target)) throw new OtaError("OTA_NOT_FOUND", `${target} does not exist; nothing to switch to`);
  if (fromVersion !== null && fromVersion !== version) replaceSymlink(layout.previousLink(kind), relTarget(layout, kind, fromVersion));
  replaceSymlink(layout.currentLink(kind), relTarget(layout, kind, version));
}

/** current -> releases/<version> (the one that ran before the update); previous stays where it is. */
export function switchBack(layout: InstallLayout, kind: ReleaseKind, version: string): void {
  const target = layout.releaseDir(kind, version);
  if (!existsSync(target)) throw new OtaError("OTA_NO_PREVIOUS", `cannot roll back: ${target} is gone`);
  replaceSymlink(layout.currentLink(kind), relTarget(layout, kind, version));
}

/**
 * Removes release folders that neither `current` nor `previous` points at (failed or superseded
 * versions, leftovers of interrupted unpacks), except `keep` and the folder this process runs from.
 */
export function pruneReleases(layout: InstallLayout, kind: ReleaseKind, keep: readonly string[] = []): string[] {
  const dir = layout.releasesDir(kind);
  if (!existsSync(dir)) return [];
  const keepNames = new Set([layout.currentVersion(kind), layout.previousVersion(kind), ...keep].filter((v): v is string => v !== null));
  let self = "";
  try {
    self = realpathSync(process.argv[1] ?? "");
  } catch {
    // not started from a file
  }
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (keepNames.has(name)) continue;
    if (self.startsWith(realpathSync(path) + sep)) continue;
    if (!lstatSync(path).isDirectory()) continue;
    rmSync(path, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
