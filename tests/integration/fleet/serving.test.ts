import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http from "node:http";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startFleetServer, type FleetServer } from "../../../simulators/fleet/index.js";
import { startTestBroker, type TestBroker } from "../../helpers/broker.js";
import { testLogger } from "../../helpers/logger.js";
import { api, buildReleases, type TestReleases } from "./helpers.js";

interface Raw {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  chunks: number;
  /** "end" when the body completed, "aborted" when the connection was cut. */
  outcome: "end" | "aborted";
}

/** A raw GET (node:http, so the path reaches the server unnormalised), resolved at end or cut. */
function get(base: string, path: string, headers: Record<string, string> = {}, stopAfter?: number): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${path}`, { headers }, (res) => {
      const parts: Buffer[] = [];
      let got = 0;
      const finish = (outcome: Raw["outcome"]) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), chunks: parts.length, outcome });
      res.on("data", (c: Buffer) => {
        parts.push(c);
        got += c.length;
        if (stopAfter !== undefined && got >= stopAfter) {
          // Stall test: what arrived, then a bounded look for more before giving up like a client would.
          setTimeout(() => {
            req.destroy();
            finish("aborted");
          }, 300);
        }
      });
      res.on("end", () => finish("end"));
      res.on("aborted", () => finish("aborted"));
      res.on("error", () => finish("aborted"));
    });
    req.on("error", reject);
  });
}

describe("fleet release serving", () => {
  let broker: TestBroker;
  let rel: TestReleases;
  let fleet: FleetServer;
  let archive: Buffer;
  const file = "edge-agent-1.2.0.tar.gz";

  beforeAll(async () => {
    broker = await startTestBroker();
    rel = await buildReleases(["1.2.0"]);
    archive = readFileSync(join(rel.dir, file));
    writeFileSync(join(rel.dir, "..", `secret-${process.pid}.tar.gz`), "secret");
    symlinkSync(join(rel.dir, "..", `secret-${process.pid}.tar.gz`), join(rel.dir, "escape.tar.gz"));
    fleet = await startFleetServer({ mqttUrl: broker.url, releasesDir: rel.dir, logger: testLogger() });
  });
  afterAll(async () => {
    await fleet?.stop();
    await broker?.stop();
    rmSync(rel.dir, { recursive: true, force: true });
    rmSync(join(rel.dir, "..", `secret-${process.pid}.tar.gz`), { force: true });
  });

  it("lists the signed release by name-version", async () => {
    const r = await api<{ releases: { id: string; size: number; signatures: number }[] }>(fleet.url, "GET", "/releases");
    expect(r.body.releases).toEqual([expect.objectContaining({ id: "edge-agent-1.2.0", size: archive.length, signatures: 1 })]);
  });

  it("serves the whole archive with Content-Length and Accept-Ranges", async () => {
    const r = await get(fleet.url, `/releases/${file}`);
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(archive.length));
    expect(r.headers["accept-ranges"]).toBe("bytes");
    expect(r.body.equals(archive)).toBe(true);
  });

  it("serves a part with 206, and a resumed download reassembles the file", async () => {
    const first = await get(fleet.url, `/releases/${file}`, { range: "bytes=0-49999" });
    expect(first.status).toBe(206);
    expect(first.headers["content-range"]).toBe(`bytes 0-49999/${archive.length}`);
    expect(first.headers["content-length"]).toBe("50000");
    const rest = await get(fleet.url, `/releases/${file}`, { range: "bytes=50000-", "if-range": String(first.headers.etag) });
    expect(rest.status).toBe(206);
    expect(Buffer.concat([first.body, rest.body]).equals(archive)).toBe(true);
  });

  it("answers 416 with the size for a range past the end or a malformed one", async () => {
    const past = await get(fleet.url, `/releases/${file}`, { range: `bytes=${archive.length}-` });
    expect(past.status).toBe(416);
    expect(past.headers["content-range"]).toBe(`bytes */${archive.length}`);
    expect((await get(fleet.url, `/releases/${file}`, { range: "bytes=9-3" })).status).toBe(416);
  });

  it("never serves a path outside the release folder", async () => {
    for (const path of ["/releases/..%2F..%2Fetc%2Fpasswd", "/releases/%2e%2e/%2e%2e/etc/passwd", "/releases/escape.tar.gz", "/releases/.src-1.2.0", "/releases/..", "/releases/"]) {
      const r = await get(fleet.url, path);
      expect(r.status, path).toBe(404);
      expect(r.body.toString()).not.toContain("root:");
      expect(r.body.toString()).not.toContain("secret");
    }
  });

  it("cuts the connection at a byte once (times: 1), and the next request is whole", async () => {
    await api(fleet.url, "PUT", "/faults", { file, cutAfter: 10_000, times: 1 });
    const cut = await get(fleet.url, `/releases/${file}`);
    expect(cut.outcome).toBe("aborted");
    expect(cut.body.length).toBe(10_000);
    expect(cut.body.equals(archive.subarray(0, 10_000))).toBe(true);
    const again = await get(fleet.url, `/releases/${file}`, { range: "bytes=10000-" });
    expect(again.status).toBe(206);
    expect(Buffer.concat([cut.body, again.body]).equals(archive)).toBe(true);
    expect((await api<{ faults: unknown[] }>(fleet.url, "GET", "/faults")).body.faults).toEqual([]);
  });

  it("serves extra bytes that Content-Length counts (an oversized download)", async () => {
    await api(fleet.url, "PUT", "/faults", { extraBytes: 4096 });
    const r = await get(fleet.url, `/releases/${file}`);
    expect(r.headers["content-length"]).toBe(String(archive.length + 4096));
    expect(r.body.length).toBe(archive.length + 4096);
    expect(r.body.subarray(0, archive.length).equals(archive)).toBe(true);
    await api(fleet.url, "DELETE", "/faults");
  });

  it("stalls after a byte and sends nothing more", async () => {
    await api(fleet.url, "PUT", "/faults", { file, stallAfter: 5000 });
    const r = await get(fleet.url, `/releases/${file}`, {}, 5000);
    expect(r.outcome).toBe("aborted");
    expect(r.body.length).toBe(5000);
    await api(fleet.url, "DELETE", "/faults");
  });

  it("trickles a body in small slices, byte-exact", async () => {
    await api(fleet.url, "PUT", "/faults", [{ file, trickleBytesPerSec: 20_000 }]);
    const r = await get(fleet.url, `/releases/${file}`, { range: "bytes=100-6099" });
    expect(r.status).toBe(206);
    expect(r.body.equals(archive.subarray(100, 6100))).toBe(true);
    expect(r.chunks).toBeGreaterThanOrEqual(3); // 2000-byte slices, not one burst
    await api(fleet.url, "DELETE", "/faults");
  });

  it("refuses a fault without an effect", async () => {
    const r = await api<{ error: string }>(fleet.url, "PUT", "/faults", { file });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatch(/cutAfter/);
  });
});
