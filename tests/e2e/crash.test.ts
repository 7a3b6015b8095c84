import { afterEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import Database from "better-sqlite3";
import { CliProcess } from "../helpers/cli.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startModbusSimulator, type ModbusSimulator } from "../../simulators/modbus/index.js";
import { waitFor } from "../helpers/ports.js";
import { modbusDevicesYaml } from "../helpers/configs.js";

/** A small seeded PRNG (mulberry32): the kill moments differ every run but a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function readStore(file: string): { lastSeq: number; pending: number } {
  // An agent killed early in its first start may not have created the store yet.
  if (!existsSync(file)) return { lastSeq: 0, pending: 0 };
  const db = new Database(file, { readonly: true });
  try {
    const next = db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: string } | undefined;
    const pending = (db.prepare("SELECT coalesce(sum(count), 0) AS n FROM outbox").get() as { n: number }).n;
    return { lastSeq: Number(next?.value ?? 1) - 1, pending };
  } finally {
    db.close();
  }
}

const KILLS = 50;

describe("crash safety: kill -9 at random moments while the agent streams", () => {
  let broker: TestBroker | undefined;
  let sim: ModbusSimulator | undefined;
  let dir: string;
  let agent: CliProcess | undefined;
  afterEach(async () => {
    if (agent && agent.child.exitCode === null) agent.child.kill("SIGKILL");
    await sim?.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`after ${KILLS} kill -9 and restarts, an independent subscriber holds every committed seq, no gaps`, async () => {
    const seed = Number(process.env.EDGE_CRASH_SEED ?? Date.now() % 1_000_000);
    const random = prng(seed);
    dir = mkdtempSync(join(tmpdir(), "edge-crash-"));
    broker = await startTestBroker();
    sim = await startModbusSimulator({ port: 0 });
    const file = join(dir, "agent.yaml");
    const common = `version: 1
device: { id: crash-gw }
dataDir: ${join(dir, "data")}
log: { level: warn }
mqtt: { url: "${broker.url}", batch: { maxSamples: 200, maxDelayMs: 50 } }
api: { enabled: false }
`;
    writeFileSync(file, common + modbusDevicesYaml(sim.port, 50, 20));
    // The same gateway with its machines unplugged: it only sends what the outbox still holds.
    const drainFile = join(dir, "drain.yaml");
    writeFileSync(drainFile, `${common.replace("level: warn", "level: info")}devices: []\n`);
    const seen = new Map<number, number>();
    const observer = await mqtt.connectAsync(broker.url, { clientId: "crash-observer" });
    observer.on("message", (_t, p) => {
      for (const s of (JSON.parse(p.toString()) as { samples: Array<{ seq: number }> }).samples) seen.set(s.seq, (seen.get(s.seq) ?? 0) + 1);
    });
    await observer.subscribeAsync("edge/crash-gw/telemetry", { qos: 1 });
    const store = join(dir, "data", "edge.db");

    let killedWhileStoring = 0;
    for (let i = 0; i < KILLS; i++) {
      const before = i === 0 ? 0 : readStore(store).lastSeq;
      agent = new CliProcess(["run", "--config", file]);
      // One kill in five lands during start-up (config, store open, connect); the others once the
      // agent is storing, at a random moment of the next 600 ms (mid-commit, mid-publish, mid-ack).
      if (random() < 0.2) await new Promise((r) => setTimeout(r, Math.floor(random() * 600)));
      else {
        await waitFor("the agent storing", () => (readStore(store).lastSeq > before ? true : undefined), 20_000, 20);
        await new Promise((r) => setTimeout(r, Math.floor(random() * 600)));
      }
      agent.child.kill("SIGKILL");
      await agent.exited;
      if (readStore(store).lastSeq > before) killedWhileStoring++;
    }

    // One last run, with no machines, left alone: it sends whatever the killed ones left in the outbox.
    agent = new CliProcess(["run", "--config", drainFile, "--log-format", "json"]);
    // Up and running (signal handlers in place) before anything below may stop it.
    await agent.waitForLine(/agent running/, 30_000);
    await waitFor("the outbox drained", () => {
      const s = readStore(store);
      return s.pending === 0 && s.lastSeq > 0 && seen.size >= s.lastSeq ? true : undefined;
    }, 60_000, 200);
    expect(await agent.stop("SIGTERM")).toBe(0);
    await observer.endAsync(true);

    const { lastSeq, pending } = readStore(store);
    const missing: number[] = [];
    for (let s = 1; s <= lastSeq; s++) if (!seen.has(s)) missing.push(s);
    const duplicates = [...seen.values()].reduce((n, c) => n + c - 1, 0);
    process.stdout.write(`crash test seed=${seed}: ${KILLS} kills, ${lastSeq} seqs committed, ${duplicates} duplicates, ${pending} pending\n`);
    expect(missing, `seed ${seed}: committed seqs never delivered`).toEqual([]);
    // Nothing arrived that was never committed (a seq beyond the store's counter would be invented).
    expect(Math.max(...seen.keys())).toBeLessThanOrEqual(lastSeq);
    expect(lastSeq).toBeGreaterThan(10_000);
    // Most kills hit an agent that was storing (the rest were still starting up).
    expect(killedWhileStoring).toBeGreaterThan(KILLS * 0.6);
    expect(pending).toBe(0);
  }, 240_000);
});
