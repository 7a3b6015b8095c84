import { OtaError } from "./errors.js";

/**
 * What a release archive may contain, as pure functions over entry names (no disk access), shared by
 * pack (refuse to build what devices would refuse) and unpack.
 *
 * Policy:
 *  - paths are relative, '/'-separated, with no '..' component, no backslash, no control character,
 *    components <= 255 bytes and whole paths <= 1024 bytes;
 *  - regular files and directories; symlinks only when relative, resolving (lexically, from the
 *    link's folder) to a path inside the release, and never through or onto another symlink;
 *  - no hardlinks, devices, fifos or anything else.
 */

export const MAX_PATH_BYTES = 1024;
const MAX_COMPONENT_BYTES = 255;

/**
 * Returns the normalised relative path ("a/b/c"), or "" for the release folder itself ("./"). Refuses
 * absolute paths (an entry "/etc/passwd" overwrites the system) and '..' components (an entry
 * "../../etc/cron.d/x" escapes the release folder: the zip-slip attack).
 */
export function normalizeEntryPath(raw: string): string {
  if (raw === "") throw new OtaError("OTA_ARCHIVE_PATH", "archive has an entry with an empty name");
  const shown = JSON.stringify(raw.slice(0, 200));
  if (raw.startsWith("/")) throw new OtaError("OTA_ARCHIVE_PATH", `archive entry ${shown} has an absolute path`);
  // A backslash is a separator to Windows tools that may handle the same archive: one name, two meanings.
  if (raw.includes("\\")) throw new OtaError("OTA_ARCHIVE_PATH", `archive entry ${shown} contains a backslash`);
  // Control characters (NUL, newline...) can truncate names in C APIs and forge lines in logs.
  if (/[\u0000-\u001f\u007f]/.test(raw)) throw new OtaError("OTA_ARCHIVE_PATH", `archive entry ${shown} contains a control character`);
  if (Buffer.byteLength(raw) > MAX_PATH_BYTES) throw new OtaError("OTA_ARCHIVE_LIMIT", `archive entry ${shown}... is longer than ${MAX_PATH_BYTES} bytes`);
  const parts: string[] = [];
  for (const part of raw.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new OtaError("OTA_ARCHIVE_PATH", `archive entry ${shown} has a '..' component (path escape)`);
    if (Buffer.byteLength(part) > MAX_COMPONENT_BYTES) throw new OtaError("OTA_ARCHIVE_LIMIT", `archive entry ${shown} has a name longer than ${MAX_COMPONENT_BYTES} bytes`);
    parts.push(part);
  }
  return parts.join("/");
}

/**
 * Resolves a symlink target lexically from the link's folder and returns the path it names inside the
 * release (every intermediate path, last one the target). Refuses absolute targets and targets that
 * climb out of the release folder: such a link would let the agent, or a later entry, read or write
 * outside it.
 */
export function resolveLinkTarget(linkPath: string, target: string): string[] {
  const shown = `${JSON.stringify(linkPath)} -> ${JSON.stringify(target.slice(0, 200))}`;
  if (target === "") throw new OtaError("OTA_ARCHIVE_LINK", `symlink ${shown} has an empty target`);
  if (target.startsWith("/")) throw new OtaError("OTA_ARCHIVE_LINK", `symlink ${shown} is absolute; only relative links inside the release are allowed`);
  if (target.includes("\\") || /[\u0000-\u001f\u007f]/.test(target)) throw new OtaError("OTA_ARCHIVE_LINK", `symlink ${shown} has a backslash or control character in its target`);
  if (Buffer.byteLength(target) > MAX_PATH_BYTES) throw new OtaError("OTA_ARCHIVE_LIMIT", `symlink ${JSON.stringify(linkPath)} has a target longer than ${MAX_PATH_BYTES} bytes`);
  const stack = linkPath.split("/").slice(0, -1);
  const visited: string[] = [];
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (stack.length === 0) throw new OtaError("OTA_ARCHIVE_LINK", `symlink ${shown} points outside the release folder`);
      stack.pop();
    } else {
      stack.push(part);
    }
    visited.push(stack.join("/"));
  }
  if (stack.length === 0) visited.push("");
  return visited;
}

/**
 * Refuses a link whose target passes through, or ends on, another symlink. Lexical resolution is only
 * sound when no component is itself a link: with `r -> .`, the link `x -> r/..` looks like "." but on
 * disk leaves the release folder. Called once every link of the archive is known.
 */
export function checkLinkChains(links: ReadonlyMap<string, string>): void {
  for (const [linkPath, target] of links) {
    for (const through of resolveLinkTarget(linkPath, target)) {
      if (links.has(through)) {
        throw new OtaError("OTA_ARCHIVE_LINK", `symlink ${JSON.stringify(linkPath)} -> ${JSON.stringify(target)} goes through another symlink (${JSON.stringify(through)}); link chains are refused`);
      }
    }
  }
}

/** The folder prefixes of a path: "a/b/c" -> ["a", "a/b"]. */
export function parentsOf(path: string): string[] {
  const parts = path.split("/");
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
}

/** Only plain permission bits travel: never setuid/setgid/sticky, never world-writable. */
export function sanitizeMode(mode: number, type: "file" | "directory"): number {
  if (type === "directory") return 0o755;
  return mode & 0o111 ? 0o755 : 0o644;
}
