import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, openSync, closeSync, writeSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { BenchContext, BenchResult, Scenario } from "../scenario.js";
import { ProcMeter, fmt } from "../util.js";

/**
 * How fast a device verifies a downloaded release: verifyPayload (the agent's streaming size + sha256
 * check) on a file, in its own process, against `sha256sum` on the same file in the same run. Also the
 * verifying process's peak RSS at two package sizes: it streams, so memory must not grow with size.
 */

const MB = 1024 * 1024;

function writeFile(path: string, bytes: number): void {
  const block = randomBytes(MB); // content does not change hashing speed; one random block repeated
  const fd = openSync(path, "w");
  try {
    for (let done = 0; done < bytes; done += MB) writeSync(fd, block, 0, Math.min(MB, bytes - done));
  } finally {
    closeSync(fd);
  }
}

/** sha256sum's digest and wall time in seconds. */
function sha256sum(path: string): { sha256: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync("sha256sum", [path], { encoding: "utf8" });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sha256sum failed: ${r.stderr || r.error?.message}`);
  return { sha256: r.stdout.split(" ")[0] ?? "", seconds };
}

/** verifyPayload in a fresh node process: its own time for the verification and its peak RSS. */
async function agentVerify(root: string, path: string, size: number, sha256: string): Promise<{ seconds: number; rssMaxMB: number; rssBeforeMB: number }> {
  const verify = pathToFileURL(join(root, "dist", "agent", "ota", "verify.js")).href;
  const script = `
    const { verifyPayload } = await import(${JSON.stringify(verify)});
    const { createReadStream } = await import("node:fs");
    const rssBefore = process.memoryUsage().rss;
    const t0 = performance.now();
    await verifyPayload(createReadStream(${JSON.stringify(path)}, { highWaterMark: 1 << 20 }), { size: ${size}, sha256: ${JSON.stringify(sha256)} });
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(JSON.stringify({ seconds, rssBefore }));`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  const meter = new ProcMeter(child.pid ?? -1);
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const timer = setInterval(() => meter.sample(), 10);
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  clearInterval(timer);
  if (code !== 0) throw new Error(`verifyPayload process exited with ${code}: ${out}`);
  const res = JSON.parse(out) as { seconds: number; rssBefore: number };
  return { seconds: res.seconds, rssMaxMB: meter.samples > 0 ? meter.result().rssMaxMB : NaN, rssBeforeMB: res.rssBefore / MB };
}

export const otaVerifyScenario: Scenario = {
  name: "ota-verify",
  description: "verifyPayload (streamed size + sha256 of a release archive) vs sha256sum on the same 200 MB file; peak RSS of the verifying process at 50 MB and 200 MB.",
  async run(ctx: BenchContext): Promise<BenchResult[]> {
    if (!existsSync(join(ctx.root, "dist", "agent", "ota", "verify.js"))) throw new Error("dist/ is missing: run npm run build first");
    const dir = await ctx.tmpDir("ota-verify-");
    const rounds = Math.max(1, Number(process.env.EDGE_BENCH_ROUNDS ?? 3));
    const sizes = [Math.max(1, Math.round(50 * ctx.scale)) * MB, Math.max(1, Math.round(200 * ctx.scale)) * MB];
    const figures: Array<{ mb: number; agentMBs: number; baseMBs: number; rssMaxMB: number; rssBeforeMB: number }> = [];
    for (const size of sizes) {
      const path = join(dir, `pkg-${size / MB}MB.tar.gz`);
      writeFile(path, size);
      const { sha256 } = sha256sum(path); // also warms the page cache for both sides
      let bestAgent = Infinity;
      let bestBase = Infinity;
      let rssMax = 0;
      let rssBefore = 0;
      for (let i = 0; i < rounds; i++) {
        const a = await agentVerify(ctx.root, path, size, sha256);
        const b = sha256sum(path);
        if (b.sha256 !== sha256) throw new Error("sha256sum disagrees with itself");
        bestAgent = Math.min(bestAgent, a.seconds);
        bestBase = Math.min(bestBase, b.seconds);
        rssMax = Math.max(rssMax, a.rssMaxMB);
        rssBefore = a.rssBeforeMB;
      }
      const f = { mb: size / MB, agentMBs: size / MB / bestAgent, baseMBs: size / MB / bestBase, rssMaxMB: rssMax, rssBeforeMB: rssBefore };
      figures.push(f);
      ctx.log(`${f.mb} MB: verifyPayload ${fmt(f.agentMBs)} MB/s, sha256sum ${fmt(f.baseMBs)} MB/s, peak RSS ${fmt(f.rssMaxMB)} MB`);
    }
    const small = figures[0]!;
    const large = figures[1]!;
    return [
      {
        metric: "throughput",
        unit: "MB/s",
        agent: large.agentMBs,
        baseline: large.baseMBs,
        higherIsBetter: true,
        baselineLabel: `sha256sum on the same ${large.mb} MB file (best of ${rounds})`,
        target: { on: "ratio", min: 0.9, source: "issue 6: verification throughput >= 0.9 x sha256sum" },
        details: { figures },
      },
      {
        metric: "rss.max",
        unit: "MB",
        agent: large.rssMaxMB,
        baseline: small.rssMaxMB,
        higherIsBetter: false,
        baselineLabel: `peak RSS of the same verification of a ${small.mb} MB package`,
        // Constant memory: 4x the package may cost at most a few MB more (GC timing), never 4x.
        target: { on: "ratio", max: 1.25, source: "issue 6: RSS constant, not growing with package size" },
        details: { figures },
      },
    ];
  },
};
