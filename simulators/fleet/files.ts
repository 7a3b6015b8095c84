/**
 * Serves release files over HTTP: `GET|HEAD /releases/<file>` with Range (206 / 416), Content-Length,
 * ETag/If-Range, and the download faults of faults.ts.
 */
import { open, type FileHandle } from "node:fs/promises";
import type http from "node:http";
import type { Logger } from "pino";
import type { ActiveFault, DownloadFaults } from "./faults.js";
import { parseRange } from "./range.js";
import type { ReleaseStore } from "./store.js";

const CHUNK = 64 * 1024;

export interface FileServeStats {
  requests: number;
  bytes: number;
}

function contentType(name: string): string {
  return name.endsWith(".tar.gz") ? "application/gzip" : "application/json";
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

/** Writes with backpressure; false when the client went away. */
function write(res: http.ServerResponse, chunk: Buffer, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted || res.destroyed) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.once("drain", onDrain);
    res.once("close", onClose);
  });
}

async function sendBody(res: http.ServerResponse, fh: FileHandle, start: number, end: number, fault: ActiveFault | undefined, signal: AbortSignal, stats: FileServeStats): Promise<void> {
  let pos = start;
  const trickle = fault?.trickleBytesPerSec;
  // A trickle sends ten slices a second, so the rate holds without one large burst per second.
  const slice = trickle !== undefined ? Math.max(1, Math.floor(trickle / 10)) : CHUNK;
  while (pos <= end) {
    let want = Math.min(slice, end - pos + 1);
    if (fault?.cutAfter !== undefined && pos + want > fault.cutAfter) want = Math.max(0, fault.cutAfter - pos);
    if (fault?.stallAfter !== undefined && pos + want > fault.stallAfter) want = Math.max(0, fault.stallAfter - pos);
    if (want > 0) {
      const buf = Buffer.alloc(want);
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      if (!(await write(res, buf.subarray(0, bytesRead), signal))) return;
      stats.bytes += bytesRead;
      pos += bytesRead;
    }
    if (fault?.cutAfter !== undefined && pos >= fault.cutAfter && pos <= end) {
      // The promised Content-Length is never reached: the bytes so far are flushed, then FIN.
      // (destroy() would drop what is still buffered and the client would see less than cutAfter.)
      await new Promise<void>((resolve) => (res.socket ? res.socket.end(resolve) : resolve()));
      res.destroy();
      return;
    }
    if (fault?.stallAfter !== undefined && pos >= fault.stallAfter && pos <= end) {
      await sleep(2 ** 31 - 1, signal); // silent until the client gives up or the server stops
      res.destroy();
      return;
    }
    if (trickle !== undefined) await sleep(100, signal);
    if (signal.aborted) return;
  }
}

export async function serveReleaseFile(
  ctx: { store: ReleaseStore; faults: DownloadFaults; logger: Logger; stats: FileServeStats; signal: AbortSignal },
  name: string,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const path = ctx.store.resolveFile(name);
  if (path === undefined) {
    const text = JSON.stringify({ error: `no release file ${JSON.stringify(name)}` }) + "\n";
    res.writeHead(404, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const fh = await open(path, "r");
  try {
    const st = await fh.stat();
    const size = st.size;
    const etag = `"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const ifRange = req.headers["if-range"];
    // If-Range with another validator: the file changed since the client's first part, send it all.
    const range = ifRange !== undefined && ifRange !== etag ? ({ kind: "full" } as const) : parseRange(req.headers.range, size);
    const common = { "accept-ranges": "bytes", etag, "content-type": contentType(name) };
    ctx.stats.requests++;
    if (range.kind === "unsatisfiable") {
      const text = JSON.stringify({ error: range.reason }) + "\n";
      res.writeHead(416, { ...common, "content-range": `bytes */${size}`, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const fault = ctx.faults.take(name);
    const [start, end] = range.kind === "partial" ? [range.start, range.end] : [0, size - 1];
    const extra = fault?.extraBytes ?? 0;
    const length = end - start + 1 + extra;
    if (fault !== undefined) ctx.logger.info({ file: name, fault }, "serving with a download fault");
    res.writeHead(range.kind === "partial" ? 206 : 200, {
      ...common,
      "content-length": length,
      ...(range.kind === "partial" ? { "content-range": `bytes ${start}-${end + extra}/${size + extra}` } : {}),
    });
    if (req.method === "HEAD") return void res.end();
    if (size > 0) await sendBody(res, fh, start, end, fault, ctx.signal, ctx.stats);
    if (res.destroyed) return;
    if (extra > 0) await write(res, Buffer.alloc(extra, 0x5a), ctx.signal);
    res.end();
  } finally {
    await fh.close();
  }
}
