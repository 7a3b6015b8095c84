import { OtaError } from "../errors.js";

/**
 * A small streaming reader for the tar subset releases use: POSIX ustar and GNU headers, pax extended
 * headers ('x': path, linkpath, size) and GNU long names ('L', 'K').
 *
 * Why our own reader and not node-tar's parser: every field the safety checks judge (the raw path,
 * the raw link target, the type flag) is parsed here, with nothing normalised or silently fixed up
 * before our checks see it (node-tar strips leading '/' and '..' with a warning in some modes,
 * applies global pax headers, and so on). The reader reports entries; it never touches the disk.
 */

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "char-device" | "block-device" | "fifo" | "unsupported";

export interface TarHeader {
  /** The path exactly as stored (after pax / GNU long-name overrides), not yet checked. */
  path: string;
  type: TarEntryType;
  /** The raw type flag, for error messages. */
  typeflag: string;
  size: number;
  mode: number;
  /** Link target for symlinks and hardlinks, exactly as stored. */
  linkpath: string;
}

export interface TarEntry extends TarHeader {
  /** The entry's data; read it before asking for the next entry, or it is skipped. */
  data(): AsyncGenerator<Buffer>;
}

export interface TarReadLimits {
  /** Largest pax or GNU long-name record accepted (they are read into memory). */
  maxMetaBytes: number;
}

const BLOCK = 512;
const utf8 = new TextDecoder("utf-8", { fatal: true });

function corrupt(message: string): OtaError {
  return new OtaError("OTA_ARCHIVE_CORRUPT", `archive is not a valid tar: ${message}`);
}

/** Pulls exact byte counts out of an async stream of chunks. */
class ByteSource {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  private async fill(n: number): Promise<void> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else this.buf = this.buf.length === 0 ? Buffer.from(r.value) : Buffer.concat([this.buf, r.value]);
    }
  }

  /** Exactly n bytes, or null at a clean end of input; a partial read is a truncated archive. */
  async read(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buf.length === 0 && this.done) return null;
    if (this.buf.length < n) throw corrupt("unexpected end of data (truncated archive)");
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Up to n bytes in the chunks they arrive in. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) await this.fill(1);
      if (this.buf.length === 0) throw corrupt("unexpected end of data (truncated archive)");
      const take = Math.min(left, this.buf.length);
      const out = this.buf.subarray(0, take);
      this.buf = this.buf.subarray(take);
      left -= take;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.chunks(n)) void _;
  }
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  try {
    return utf8.decode(end === -1 ? field : field.subarray(0, end));
  } catch {
    // A name that is not UTF-8 would be checked as one string and written as another.
    throw corrupt("a name is not valid UTF-8");
  }
}

function octal(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  if ((field[0] ?? 0) & 0x80) throw new OtaError("OTA_ARCHIVE_LIMIT", `archive ${what} uses base-256 encoding (a value beyond 8 GiB); refused`);
  const s = field.toString("latin1").replace(/[\0 ]+$/, "").replace(/^ +/, "");
  if (!/^[0-7]*$/.test(s)) throw corrupt(`${what} field is not octal`);
  return s === "" ? 0 : parseInt(s, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === octal(block, 148, 8, "checksum");
}

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case "0":
    case "\0":
    case "7": // contiguous file: an ordinary file everywhere that matters
      return "file";
    case "5":
      return "directory";
    case "2":
      return "symlink";
    case "1":
      return "hardlink";
    case "3":
      return "char-device";
    case "4":
      return "block-device";
    case "6":
      return "fifo";
    default:
      return "unsupported";
  }
}

/** pax records: "LEN key=value\n" repeated. */
function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) throw corrupt("bad pax record");
    const len = Number(data.subarray(pos, space).toString("latin1"));
    if (!Number.isInteger(len) || len <= 0 || pos + len > data.length || data[pos + len - 1] !== 0x0a) throw corrupt("bad pax record length");
    let record: string;
    try {
      record = utf8.decode(data.subarray(space + 1, pos + len - 1));
    } catch {
      throw corrupt("a pax record is not valid UTF-8");
    }
    const eq = record.indexOf("=");
    if (eq <= 0) throw corrupt("bad pax record");
    out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

/**
 * Yields the entries of an uncompressed tar stream. Stops at the end-of-archive marker and reads
 * nothing after it. Refuses: bad checksums, non-ustar headers, global pax headers, a stream that ends
 * before the end marker.
 */
export async function* readTar(source: AsyncIterable<Uint8Array>, limits: TarReadLimits): AsyncGenerator<TarEntry> {
  const src = new ByteSource(source[Symbol.asyncIterator]());
  let pending: { path?: string; linkpath?: string; size?: number } = {};
  let pendingKinds = new Set<string>();
  for (;;) {
    const block = await src.read(BLOCK);
    if (block === null) throw corrupt("no end-of-archive marker (truncated archive)");
    if (block.every((b) => b === 0)) {
      if (pendingKinds.size > 0) throw corrupt("extended header without an entry");
      return;
    }
    if (!checksumOk(block)) throw corrupt("header checksum mismatch");
    const magic = block.subarray(257, 263).toString("latin1");
    const gnu = magic === "ustar " && block[263] === 0x20;
    if (magic !== "ustar\0" && !gnu) throw corrupt("not a ustar header");
    const typeflag = String.fromCharCode(block[156] ?? 0);
    let size = octal(block, 124, 12, "size");

    if (typeflag === "x" || typeflag === "L" || typeflag === "K") {
      if (size > limits.maxMetaBytes) throw new OtaError("OTA_ARCHIVE_LIMIT", `archive has an extended header of ${size} bytes (limit ${limits.maxMetaBytes})`);
      if (pendingKinds.has(typeflag)) throw corrupt(`two '${typeflag}' headers for one entry`);
      pendingKinds.add(typeflag);
      const data = await src.read(size + padding(size));
      if (data === null) throw corrupt("unexpected end of data (truncated archive)");
      const body = data.subarray(0, size);
      if (typeflag === "x") {
        const pax = parsePax(body);
        const p = pax.get("path");
        const l = pax.get("linkpath");
        const s = pax.get("size");
        if (p !== undefined) pending.path = p;
        if (l !== undefined) pending.linkpath = l;
        if (s !== undefined) {
          if (!/^\d{1,16}$/.test(s)) throw corrupt("bad pax size");
          pending.size = Number(s);
        }
      } else {
        const end = body.indexOf(0);
        let name: string;
        try {
          name = utf8.decode(end === -1 ? body : body.subarray(0, end));
        } catch {
          throw corrupt("a long name is not valid UTF-8");
        }
        if (typeflag === "L") pending.path = name;
        else pending.linkpath = name;
      }
      continue;
    }
    if (typeflag === "g") throw new OtaError("OTA_ARCHIVE_TYPE", "archive has a global pax header; releases never need one, refused");

    const name = text(block, 0, 100);
    const prefix = gnu ? "" : text(block, 345, 155);
    const path = pending.path ?? (prefix ? `${prefix}/${name}` : name);
    const linkpath = pending.linkpath ?? text(block, 157, 100);
    if (pending.size !== undefined) size = pending.size;
    if (!Number.isSafeInteger(size)) throw new OtaError("OTA_ARCHIVE_LIMIT", "archive entry size is too large");
    pending = {};
    pendingKinds = new Set();

    let left = size;
    const entry: TarEntry = {
      path,
      type: typeOf(typeflag),
      typeflag,
      size,
      mode: octal(block, 100, 8, "mode"),
      linkpath,
      async *data() {
        for await (const chunk of src.chunks(left)) {
          left -= chunk.length;
          yield chunk;
        }
      },
    };
    yield entry;
    // Whatever the consumer did not read is skipped, with the padding to the next header.
    await src.skip(left);
    left = 0;
    await src.skip(padding(size));
  }
}
