import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { download } from "../../agent/ota/download.js";
import { isOtaError } from "../../agent/ota/errors.js";
import { startFileServer, tempDir, type FileServer } from "../helpers/ota.js";

/** Real HTTP on 127.0.0.1, real files. */
describe("OTA download", () => {
  let server: FileServer;
  const dir = tempDir("ota-dl-");
  const data = randomBytes(300_000);
  const fast = { retries: 2, backoffMs: 20, stallMs: 2000, minBytesPerSec: 0 };
  let n = 0;
  const dest = () => join(dir, `a${++n}.tar.gz`);
  const failure = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return err;
    }
    throw new Error("expected a failure");
  };

  beforeAll(async () => {
    server = await startFileServer();
  });
  afterAll(async () => {
    await server.close();
  });

  it("downloads the signed size exactly, with progress, and removes the .part file", async () => {
    server.put("ok.tar.gz", data);
    const seen: number[] = [];
    const d = dest();
    const r = await download({ ...fast, url: server.url("ok.tar.gz"), dest: d, size: data.length, onProgress: (b) => seen.push(b) });
    expect(r).toMatchObject({ bytes: data.length, attempts: 1, resumedFrom: 0 });
    expect(readFileSync(d).equals(data)).toBe(true);
    expect(existsSync(`${d}.part`)).toBe(false);
    expect(seen.at(-1)).toBe(data.length);
  });

  it("a truncated transfer is resumed with a Range request", async () => {
    server.put("cut.tar.gz", data, "truncate-once");
    const d = dest();
    const r = await download({ ...fast, url: server.url("cut.tar.gz"), dest: d, size: data.length });
    expect(r.attempts).toBe(2);
    expect(readFileSync(d).equals(data)).toBe(true);
    const reqs = server.requests.filter((q) => q.path === "cut.tar.gz");
    expect(reqs[0]?.range).toBeUndefined();
    expect(reqs[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/=(\d+)-/.exec(reqs[1]?.range ?? "")?.[1])).toBeGreaterThan(0);
  });

  it("resumes a .part file left by an earlier run (power cut) from where it stopped", async () => {
    server.put("part.tar.gz", data);
    const d = dest();
    writeFileSync(`${d}.part`, data.subarray(0, 100_000));
    const r = await download({ ...fast, url: server.url("part.tar.gz"), dest: d, size: data.length });
    expect(r.resumedFrom).toBe(100_000);
    expect(server.requests.filter((q) => q.path === "part.tar.gz").map((q) => q.range)).toEqual(["bytes=100000-"]);
    expect(readFileSync(d).equals(data)).toBe(true);
  });

  it("a server ignoring Range starts over instead of splicing", async () => {
    server.put("norange.tar.gz", data, "no-range");
    const d = dest();
    writeFileSync(`${d}.part`, data.subarray(0, 5000));
    await download({ ...fast, url: server.url("norange.tar.gz"), dest: d, size: data.length });
    expect(readFileSync(d).equals(data)).toBe(true);
  });

  it("a server sending more than the signed size is cut off at the first extra chunk (OTA_SIZE)", async () => {
    server.put("endless.tar.gz", data, "endless");
    const d = dest();
    const err = await failure(download({ ...fast, url: server.url("endless.tar.gz"), dest: d, size: data.length }));
    expect(isOtaError(err, "OTA_SIZE")).toBe(true);
    expect(existsSync(d) || existsSync(`${d}.part`)).toBe(false);
  });

  it("a stalled server is abandoned (OTA_STALLED)", async () => {
    server.put("stall.tar.gz", data, "stall");
    const started = Date.now();
    const err = await failure(download({ ...fast, retries: 0, stallMs: 300, url: server.url("stall.tar.gz"), dest: dest(), size: data.length }));
    expect(isOtaError(err, "OTA_STALLED")).toBe(true);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("a trickling server is abandoned once the rate stays under the minimum (OTA_STALLED)", async () => {
    server.put("trickle.tar.gz", data, "trickle");
    const err = await failure(download({ ...fast, retries: 0, minBytesPerSec: 10_000, rateWindowMs: 400, url: server.url("trickle.tar.gz"), dest: dest(), size: data.length }));
    expect(isOtaError(err, "OTA_STALLED")).toBe(true);
    expect((err as Error).message).toMatch(/too slow/);
  });

  it("a disk error while writing fails clearly (OTA_DISK) and leaves no .part behind", async () => {
    server.put("disk.tar.gz", data);
    const d = dest();
    let written = 0;
    const err = await failure(
      download({
        ...fast,
        url: server.url("disk.tar.gz"),
        dest: d,
        size: data.length,
        // The write fails like a full disk does once 64 KiB are in.
        openFile: async (path) => ({
          write: async (chunk) => {
            if (written + chunk.length > 65_536) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
            written += chunk.length;
            writeFileSync(path, chunk, { flag: "a" });
          },
          sync: async () => undefined,
          close: async () => undefined,
        }),
      }),
    );
    expect(isOtaError(err, "OTA_DISK")).toBe(true);
    expect((err as Error).message).toMatch(/ENOSPC/);
    expect(existsSync(`${d}.part`)).toBe(false);
    expect(existsSync(d)).toBe(false);
  });

  it("404 is not retried; it names the URL and status", async () => {
    const before = server.requests.length;
    const err = await failure(download({ ...fast, url: server.url("missing.tar.gz"), dest: dest(), size: 10 }));
    expect(isOtaError(err, "OTA_DOWNLOAD")).toBe(true);
    expect((err as Error).message).toMatch(/HTTP 404/);
    expect(server.requests.length - before).toBe(1);
  });
});
