import { mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "./atomic-file.js";
import { OtaError } from "./errors.js";
import { compareSemver, isSemver } from "./semver.js";

const fileSchema = z.strictObject({
  version: z.literal(1),
  floors: z.record(z.string(), z.string().refine(isSemver, "expected a semantic version")),
});

/**
 * The highest version ever committed per key (the release kind: "agent", "config"), persisted so
 * anti-rollback survives a reinstall of an older agent build and a power cut.
 *
 * It only moves when the caller commits (after the new version proved healthy), never on download or
 * verify: otherwise a release that fails its health check would lock the device out of the version it
 * rolls back to. It never moves down. A file that cannot be read is an error, never "empty": treating
 * a corrupted floor as no floor would reopen every old release to replay.
 */
export class VersionFloor {
  private floors: Map<string, string>;

  private constructor(
    readonly file: string,
    floors: Map<string, string>,
  ) {
    this.floors = floors;
  }

  static open(file: string): VersionFloor {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return new VersionFloor(file, new Map());
      throw new OtaError("OTA_FLOOR_CORRUPT", `cannot read the version floor ${file}: ${(err as Error).message}`, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new OtaError("OTA_FLOOR_CORRUPT", `version floor ${file} is not valid JSON; refusing to guess (restore it or re-provision)`, { cause: err });
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) throw new OtaError("OTA_FLOOR_CORRUPT", `version floor ${file} is malformed: ${parsed.error.issues.map((i) => i.message).join("; ")}`);
    return new VersionFloor(file, new Map(Object.entries(parsed.data.floors)));
  }

  /** Highest committed version for `key`, or null. */
  get(key: string): string | null {
    return this.floors.get(key) ?? null;
  }

  /**
   * Records that `version` of `key` is committed. Returns false (and writes nothing) when the floor is
   * already at or above it: the floor never goes down.
   */
  commit(key: string, version: string): boolean {
    if (!isSemver(version)) throw new TypeError(`not a semantic version: ${JSON.stringify(version)}`);
    const current = this.floors.get(key);
    if (current !== undefined && compareSemver(version, current) <= 0) return false;
    const next = new Map(this.floors).set(key, version);
    mkdirSync(dirname(this.file), { recursive: true });
    const data = { version: 1, floors: Object.fromEntries([...next].sort(([a], [b]) => (a < b ? -1 : 1))) };
    writeFileAtomic(this.file, JSON.stringify(data, null, 2) + "\n", 0o644);
    // Only after the file is durable does memory change: a failed write leaves both unchanged.
    this.floors = next;
    return true;
  }
}
