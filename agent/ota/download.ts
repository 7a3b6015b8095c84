import { open, rename, rm, stat, type FileHandle } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { dirname } from "node:path";
import { fsyncDir } from "./atomic-file.js";
import { OtaError, isOtaError } from "./errors.js";

/** Where the bytes go; an option so tests can inject a full disk (everything runs as root here). */
export interface DownloadFile {
  write(chunk: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface DownloadTuning {
  /** Attempts after the first one (a truncated transfer, a stall, a 5xx, a reset connection). */
  retries: number;
  /** First pause between attempts; doubles each time up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** Abandon an attempt when no byte arrived for this long (also covers a server that never answers). */
  stallMs: number;
  /**
   * Abandon an attempt whose average rate over the last rateWindowMs is below this (0 = off): a server
   * trickling one byte a second never trips stallMs but would hold the update forever.
   */
  minBytesPerSec: number;
  rateWindowMs: number;
}

export const DEFAULT_DOWNLOAD_TUNING: DownloadTuning = {
  retries: 5,
  backoffMs: 1000,
  maxBackoffMs: 30_000,
  stallMs: 30_000,
  minBytesPerSec: 1024,
  rateWindowMs: 60_000,
};

export interface DownloadOptions extends Partial<DownloadTuning> {
  url: string;
  /** Final file; bytes arrive in `${dest}.part` and it is renamed once exactly `size` bytes are there. */
  dest: string;
  /** The signed size: the hard cap, and what "complete" means. */
  size: number;
  onProgress?: (bytes: number, total: number) => void;
  signal?: AbortSignal;
  /** Extra CA certificates for https (a fleet server with a private CA). */
  ca?: string | Buffer;
  /** Opens the .part file for appending (default: fs). Tests inject write faults here. */
  openFile?: (path: string) => Promise<DownloadFile>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface DownloadResult {
  file: string;
  bytes: number;
  /** HTTP requests made (1 when nothing went wrong). */
  attempts: number;
  /** Bytes that were already in the .part file and not fetched again. */
  resumedFrom: number;
}

const MAX_REDIRECTS = 5;

async function defaultOpen(path: string): Promise<DownloadFile> {
  const fh: FileHandle = await open(path, "a", 0o600);
  return {
    write: async (chunk) => {
      await fh.write(chunk);
    },
    sync: () => fh.sync(),
    close: () => fh.close(),
  };
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw err;
  }
}

/** A failure worth another attempt (network), as opposed to one that will not change (404, too big, disk). */
class Retryable extends Error {}

function get(url: string, headers: Record<string, string>, o: DownloadOptions, redirects = 0): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, { method: "GET", headers, ca: o.ca, signal: o.signal }, (res) => {
      req.setTimeout(0); // from here on the body's own stall timer decides
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (status >= 300 && status < 400 && location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) return reject(new OtaError("OTA_DOWNLOAD", `${url}: more than ${MAX_REDIRECTS} redirects`));
        const next = new URL(location, u);
        if (next.protocol !== "http:" && next.protocol !== "https:") return reject(new OtaError("OTA_DOWNLOAD", `${url}: redirect to ${next.protocol} refused`));
        return resolve(get(next.toString(), headers, o, redirects + 1));
      }
      resolve(res);
    });
    // Until the headers arrive, a silent server is a stall like any other.
    req.setTimeout(o.stallMs ?? DEFAULT_DOWNLOAD_TUNING.stallMs, () => req.destroy(new Retryable(`no answer from ${u.host} for ${o.stallMs ?? DEFAULT_DOWNLOAD_TUNING.stallMs} ms`)));
    req.on("error", (err) => reject(err instanceof OtaError || err instanceof Retryable ? err : new Retryable(`${u.host}: ${err.message}`)));
    req.end();
  });
}

/**
 * One attempt: asks for what is missing (Range), appends to the .part file, enforces the cap, the stall
 * timer and the minimum rate. Resolves with the bytes now in the .part file.
 */
async function attempt(o: DownloadOptions & DownloadTuning, part: string, have: number): Promise<number> {
  const headers: Record<string, string> = { "user-agent": "edge-agent-ota", "accept-encoding": "identity" };
  if (have > 0) headers.range = `bytes=${have}-`;
  const res = await get(o.url, headers, o);
  const status = res.statusCode ?? 0;
  let offset: number;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers["content-range"] ?? ""));
    if (!m || Number(m[1]) !== have) {
      res.resume();
      // A range we did not ask for: start over from zero rather than splice unrelated bytes.
      await rm(part, { force: true });
      throw new Retryable(`server answered range ${String(res.headers["content-range"])} to bytes=${have}-; restarting the download`);
    }
    if (m[3] !== "*" && Number(m[3]) > o.size) {
      res.resume();
      throw new OtaError("OTA_SIZE", `server says the archive is ${m[3]} bytes, the manifest signs ${o.size}`);
    }
    offset = have;
  } else if (status === 200) {
    offset = 0; // no range support: the whole file again
  } else if (status === 416 && have > 0) {
    res.resume();
    await rm(part, { force: true });
    throw new Retryable(`server refused range bytes=${have}- (file changed on the server?); restarting the download`);
  } else {
    res.resume();
    const msg = `GET ${o.url}: HTTP ${status} ${res.statusMessage ?? ""}`.trim();
    if (status >= 500 || status === 408 || status === 429) throw new Retryable(msg);
    throw new OtaError("OTA_DOWNLOAD", msg);
  }
  const declared = res.headers["content-length"] === undefined ? null : Number(res.headers["content-length"]);
  if (declared !== null && Number.isFinite(declared) && offset + declared > o.size) {
    res.resume();
    throw new OtaError("OTA_SIZE", `server announces ${offset + declared} bytes, the manifest signs ${o.size}; not downloading`);
  }

  if (offset === 0 && have > 0) await rm(part, { force: true });
  let file: DownloadFile;
  try {
    file = await (o.openFile ?? defaultOpen)(part);
  } catch (err) {
    res.destroy();
    throw new OtaError("OTA_DISK", `cannot open ${part}: ${(err as Error).message}`, { cause: err });
  }
  let bytes = offset;
  const now = o.now ?? Date.now;
  const startedAt = now();
  // (time, bytes) marks for the rate check; one per chunk is enough and bounded by the window.
  const marks: Array<[number, number]> = [[startedAt, bytes]];
  let stallTimer: NodeJS.Timeout | undefined;
  let stalled: OtaError | null = null;
  const armStall = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      stalled = new OtaError("OTA_STALLED", `no data from the server for ${o.stallMs} ms at ${bytes} of ${o.size} bytes`);
      res.destroy(stalled);
    }, o.stallMs);
  };
  armStall();
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (bytes + chunk.length > o.size) {
        throw new OtaError("OTA_SIZE", `server sent more than the ${o.size} bytes the manifest signs; stopped at ${bytes + chunk.length}`);
      }
      try {
        await file.write(chunk);
      } catch (err) {
        throw new OtaError("OTA_DISK", `cannot write ${part} at ${bytes} bytes: ${(err as Error).message}`, { cause: err });
      }
      bytes += chunk.length;
      armStall();
      o.onProgress?.(bytes, o.size);
      if (o.minBytesPerSec > 0) {
        const t = now();
        marks.push([t, bytes]);
        while (marks.length > 2 && (marks[1]?.[0] ?? t) <= t - o.rateWindowMs) marks.shift();
        const [t0, b0] = marks[0] ?? [t, bytes];
        if (t - startedAt >= o.rateWindowMs && t - t0 > 0 && ((bytes - b0) * 1000) / (t - t0) < o.minBytesPerSec) {
          throw new OtaError("OTA_STALLED", `download too slow: ${Math.round(((bytes - b0) * 1000) / (t - t0))} B/s over ${t - t0} ms, minimum ${o.minBytesPerSec} B/s`);
        }
      }
    }
    if (stalled) throw stalled;
  } catch (err) {
    if (isOtaError(err)) throw err;
    if (stalled) throw stalled; // the destroy surfaced as "aborted" or a reset
    // A reset or aborted connection mid-body: keep what arrived, the next attempt resumes with Range.
    throw new Retryable(`transfer interrupted at ${bytes} of ${o.size} bytes: ${(err as Error).message}`);
  } finally {
    clearTimeout(stallTimer);
    res.destroy();
    try {
      await file.sync();
    } catch {
      // the write error (if any) is what the caller needs to see
    }
    await file.close().catch(() => undefined);
  }
  return bytes;
}

/**
 * Downloads `url` to `dest`, resuming an earlier `.part` file with an HTTP Range request. Never keeps
 * more than `size` bytes: a server sending more is refused at the first extra chunk (OTA_SIZE). A
 * stalled or trickling transfer is abandoned (OTA_STALLED); interrupted transfers are retried with
 * backoff and resumed. A write error (disk full) removes the .part file and fails with OTA_DISK, so a
 * full disk is reported once and leaves nothing behind.
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const o = { ...DEFAULT_DOWNLOAD_TUNING, ...options } as DownloadOptions & DownloadTuning;
  const part = `${o.dest}.part`;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const resumedFrom = Math.min(await fileSize(part), o.size + 1);
  let attempts = 0;
  let lastError = "";
  for (;;) {
    let have = await fileSize(part);
    if (have > o.size) {
      await rm(part, { force: true });
      have = 0;
    }
    if (have === o.size) break;
    if (attempts > o.retries) {
      throw new OtaError(lastError.startsWith("OTA_STALLED") ? "OTA_STALLED" : "OTA_DOWNLOAD", `download of ${o.url} failed after ${attempts} attempt(s): ${lastError.replace(/^OTA_STALLED: /, "")}`);
    }
    if (attempts > 0) await sleep(Math.min(o.maxBackoffMs, o.backoffMs * 2 ** (attempts - 1)));
    if (o.signal?.aborted) throw new OtaError("OTA_DOWNLOAD", `download of ${o.url} cancelled`);
    attempts++;
    try {
      have = await attempt(o, part, have);
      if (have < o.size) lastError = `the server closed the transfer at ${have} of ${o.size} bytes`;
    } catch (err) {
      if (isOtaError(err, "OTA_STALLED")) {
        lastError = `OTA_STALLED: ${err.message}`;
        continue;
      }
      if (isOtaError(err)) {
        // Too big or a disk error: the bytes we hold are not worth keeping.
        if (err.code === "OTA_SIZE" || err.code === "OTA_DISK") await rm(part, { force: true }).catch(() => undefined);
        throw err;
      }
      if (err instanceof Retryable) {
        lastError = err.message;
        continue;
      }
      throw err;
    }
  }
  await rename(part, o.dest);
  fsyncDir(dirname(o.dest));
  return { file: o.dest, bytes: o.size, attempts, resumedFrom: resumedFrom > o.size ? 0 : resumedFrom };
}
