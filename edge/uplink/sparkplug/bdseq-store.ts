import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { join } from "node:path";
import { EdgeError, errorMessage } from "../../errors.js";

const FILE = "sparkplug-bdseq.json";

/**
 * The birth/death sequence number (bdSeq) of the Sparkplug session, 0..255 wrapping. A host pairs
 * an NDEATH with the NBIRTH of the same session by it, so it must keep counting across restarts: the
 * last value put in a CONNECT is kept in `{dataDir}/sparkplug-bdseq.json`, written to a temp file and
 * renamed over the old one (a power cut leaves either the old or the new value, never half a file).
 */
export class BdSeqStore {
  private readonly path: string;
  private last: number | null;

  constructor(private readonly dataDir: string) {
    this.path = join(dataDir, FILE);
    this.last = readLast(this.path);
  }

  /** The value most recently allocated (in this process or a previous one); null before the first. */
  current(): number | null {
    return this.last;
  }

  /** The next bdSeq, persisted before it is returned so a crash right after cannot reuse it. */
  allocate(): number {
    const next = this.last === null ? 0 : (this.last + 1) & 0xff;
    mkdirSync(this.dataDir, { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      const fd = openSync(tmp, "w");
      try {
        writeSync(fd, JSON.stringify({ bdSeq: next }) + "\n");
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
    } catch (err) {
      throw new EdgeError("SPARKPLUG_BDSEQ", `cannot save the Sparkplug bdSeq in ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
    this.last = next;
    return next;
  }
}

/** The stored value; a missing or unreadable file starts the count again (hosts accept any bdSeq on NBIRTH). */
function readLast(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    const v = typeof parsed === "object" && parsed !== null ? (parsed as { bdSeq?: unknown }).bdSeq : undefined;
    return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 255 ? v : null;
  } catch {
    return null;
  }
}
