/**
 * The folder of releases the fleet serves: each release is NAME.tar.gz, NAME.manifest.json and
 * NAME.manifest.json.sig side by side (agent/ota/README.md). The folder is read again on every call,
 * so a release copied in while the server runs is offered without a restart.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join, sep } from "node:path";
import { decodeManifest, readSignatures, releaseFiles, type Manifest, type Signature } from "../../agent/ota/index.js";
import { errorMessage } from "../../edge/errors.js";

export interface Release {
  /** `name-version` from the manifest: what a rollout names. */
  id: string;
  /** NAME of the three files. */
  base: string;
  manifest: Manifest;
  /** The exact signed bytes, offered as they are. */
  manifestBytes: Buffer;
  signatures: Signature[];
  archive: string;
  archiveSize: number;
}

export interface ReleaseProblem {
  file: string;
  problem: string;
}

const SERVABLE = /^[A-Za-z0-9][A-Za-z0-9._-]*\.(tar\.gz|manifest\.json|manifest\.json\.sig)$/;

export class ReleaseStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = realpathSync(dir);
  }

  /** Every complete release, plus what is wrong with the incomplete or unreadable ones. */
  scan(): { releases: Release[]; problems: ReleaseProblem[] } {
    const releases: Release[] = [];
    const problems: ReleaseProblem[] = [];
    for (const file of readdirSync(this.dir).sort()) {
      if (!file.endsWith(".manifest.json") || file.startsWith(".")) continue;
      const files = releaseFiles(file);
      try {
        const manifestBytes = readFileSync(join(this.dir, files.manifest));
        const manifest = decodeManifest(manifestBytes, files.manifest);
        const signatures = readSignatures(join(this.dir, files.signatures));
        if (signatures.length === 0) throw new Error(`${files.signatures} is missing or has no signature`);
        const st = statSync(join(this.dir, files.archive), { throwIfNoEntry: false });
        if (!st?.isFile()) throw new Error(`${files.archive} is missing`);
        releases.push({ id: `${manifest.name}-${manifest.version}`, base: file.slice(0, -".manifest.json".length), manifest, manifestBytes, signatures, archive: files.archive, archiveSize: st.size });
      } catch (err) {
        problems.push({ file, problem: errorMessage(err) });
      }
    }
    return { releases, problems };
  }

  /** A release by `name-version` or by its file NAME. */
  find(id: string): Release | undefined {
    const { releases } = this.scan();
    return releases.find((r) => r.id === id) ?? releases.find((r) => r.base === id);
  }

  /**
   * The absolute path of a servable file, or undefined. Only plain release file names directly in the
   * folder: no separators, no dot files, and the real path (after symlinks) must still be inside.
   */
  resolveFile(name: string): string | undefined {
    if (!SERVABLE.test(name) || name.includes("..")) return undefined;
    try {
      const real = realpathSync(join(this.dir, name));
      if (!real.startsWith(this.dir + sep) || !statSync(real).isFile()) return undefined;
      return real;
    } catch {
      return undefined;
    }
  }
}
