/**
 * `Range: bytes=...` for one file of `size` bytes. Pure, so the edge cases are unit tested.
 *
 * - `bytes=a-b`, `bytes=a-`, `bytes=-n` (the last n bytes); b past the end is clipped (RFC 9110);
 * - several ranges: ignored, the whole file is sent (RFC 9110 lets a server do so, and no
 *   downloader needs multipart/byteranges);
 * - a range starting at or past the end, a reversed range, `bytes=-0` or a malformed header: 416.
 *   RFC 9110 would allow ignoring a malformed header, but this server exists to test downloaders:
 *   a downloader that sends garbage should hear about it.
 */
export type RangeResult = { kind: "full" } | { kind: "partial"; start: number; end: number } | { kind: "unsatisfiable"; reason: string };

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: "full" };
  const m = /^\s*bytes\s*=\s*(.+)$/i.exec(header);
  if (!m?.[1]) return { kind: "unsatisfiable", reason: `unsupported Range ${JSON.stringify(header)}: expected bytes=START-END` };
  const specs = m[1].split(",").map((s) => s.trim());
  if (specs.length > 1) return { kind: "full" };
  const spec = /^(\d*)-(\d*)$/.exec(specs[0] ?? "");
  if (!spec || (spec[1] === "" && spec[2] === "")) return { kind: "unsatisfiable", reason: `malformed Range ${JSON.stringify(header)}` };
  const [, a = "", b = ""] = spec;
  if (a === "") {
    const n = Number(b);
    if (n === 0 || size === 0) return { kind: "unsatisfiable", reason: `suffix range of ${n} bytes of a ${size}-byte file` };
    return { kind: "partial", start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size) return { kind: "unsatisfiable", reason: `range starts at ${start}, the file has ${size} bytes` };
  if (b !== "" && Number(b) < start) return { kind: "unsatisfiable", reason: `range ${a}-${b} ends before it starts` };
  return { kind: "partial", start, end };
}
