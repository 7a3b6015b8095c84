import { OtaError } from "../errors.js";

/**
 * Builds tar headers (POSIX ustar, with a pax 'x' header only when a path or link target does not
 * fit). Every header is written from fields we chose: owner 0:0 with no names, one fixed mtime, a
 * sanitised mode, so the same folder packs to the same bytes and no builder's uid or setuid bit
 * travels to the devices.
 */

export interface TarWriteEntry {
  path: string;
  type: "file" | "directory" | "symlink";
  size: number;
  /** Permission bits; only 0o755 or 0o644 are written (0o755 for directories). */
  mode: number;
  linkpath?: string;
  /** Seconds since the epoch. */
  mtime: number;
}

const BLOCK = 512;
const MAX_OCTAL_SIZE = 0o77777777777; // 11 octal digits: just under 8 GiB

function put(block: Buffer, offset: number, length: number, value: string): void {
  block.write(value, offset, length, "utf8");
}

function putOctal(block: Buffer, offset: number, length: number, value: number): void {
  put(block, offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
}

/** Splits a path into ustar prefix (<=155 bytes) and name (<=100 bytes), or undefined when impossible. */
function splitUstar(path: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { prefix: "", name: path };
  for (let i = path.indexOf("/"); i !== -1; i = path.indexOf("/", i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== "") return { prefix, name };
  }
  return undefined;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const length = Buffer.byteLength(body);
  // The length prefix counts its own digits.
  let digits = 1;
  while (String(length + digits).length > digits) digits++;
  return `${length + digits}${body}`;
}

function header(e: { path: string; typeflag: string; size: number; mode: number; linkpath: string; mtime: number; prefix: string }): Buffer {
  const block = Buffer.alloc(BLOCK);
  put(block, 0, 100, e.path);
  putOctal(block, 100, 8, e.mode);
  putOctal(block, 108, 8, 0);
  putOctal(block, 116, 8, 0);
  putOctal(block, 124, 12, e.size);
  putOctal(block, 136, 12, e.mtime);
  block.fill(0x20, 148, 156);
  put(block, 156, 1, e.typeflag);
  put(block, 157, 100, e.linkpath);
  put(block, 257, 6, "ustar\0");
  put(block, 263, 2, "00");
  put(block, 345, 155, e.prefix);
  let sum = 0;
  for (const b of block) sum += b;
  put(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

export function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The header block(s) of one entry; its data and padding() follow for files. */
export function entryHeader(e: TarWriteEntry): Buffer {
  if (e.size > MAX_OCTAL_SIZE) throw new OtaError("OTA_PACK", `${e.path}: files of 8 GiB or more are not supported`);
  const mode = e.type === "directory" ? 0o755 : e.mode & 0o111 ? 0o755 : 0o644;
  const typeflag = e.type === "file" ? "0" : e.type === "directory" ? "5" : "2";
  const path = e.type === "directory" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
  const linkpath = e.linkpath ?? "";
  const split = splitUstar(path);
  const longLink = Buffer.byteLength(linkpath) > 100;
  const blocks: Buffer[] = [];
  if (!split || longLink) {
    const records = (split ? "" : paxRecord("path", path)) + (longLink ? paxRecord("linkpath", linkpath) : "");
    const data = Buffer.from(records, "utf8");
    blocks.push(header({ path: "PaxHeader", typeflag: "x", size: data.length, mode: 0o644, linkpath: "", mtime: e.mtime, prefix: "" }), data, padding(data.length));
  }
  const size = e.type === "file" ? e.size : 0;
  blocks.push(
    header({
      path: split ? split.name : path.slice(-100).replace(/^\/+/, ""),
      prefix: split ? split.prefix : "",
      typeflag,
      size,
      mode,
      linkpath: longLink ? "" : linkpath,
      mtime: e.mtime,
    }),
  );
  return Buffer.concat(blocks);
}

/** Two zero blocks end an archive. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(BLOCK * 2);
}
