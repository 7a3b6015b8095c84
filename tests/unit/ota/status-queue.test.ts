import { afterEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { StatusQueue } from "../../../agent/ota/status-queue.js";
import type { OtaStatus } from "../../../agent/ota/messages.js";
import { DIST } from "../../helpers/ota.js";

const status = (i: number): OtaStatus => ({ v: 1, device: "gw", offerId: `o-${i}`, name: "edge-agent", kind: "agent", version: "1.0.0", state: "committed", installedVersion: "1.0.0", ts: i });

describe("StatusQueue shared by the agent and the supervisor", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("two processes queueing at the same time keep every report (no name taken twice)", async () => {
    dir = mkdtempSync(join(tmpdir(), "ota-queue-"));
    const mod = pathToFileURL(join(DIST, "agent", "ota", "status-queue.js")).href;
    const other = spawn(process.execPath, [
      "--input-type=module",
      "-e",
      `const { StatusQueue } = await import(${JSON.stringify(mod)}); const q = new StatusQueue(${JSON.stringify(dir)}, { maxMessages: 1000 });
       for (let i = 0; i < 200; i++) q.enqueue("t", { v: 1, device: "gw", offerId: "child-" + i, name: "edge-agent", kind: "agent", version: "1.0.0", state: "committed", installedVersion: "1.0.0", ts: i });`,
    ]);
    const done = new Promise<number | null>((resolve) => other.once("exit", resolve));
    const q = new StatusQueue(dir, { maxMessages: 1000 });
    for (let i = 0; i < 200; i++) q.enqueue("t", status(i));
    expect(await done).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toHaveLength(400);
    const offers = q.pending().map((p) => p.status.offerId);
    // Each process's reports stay in their own order.
    expect(offers.filter((o) => o.startsWith("o-"))).toEqual(Array.from({ length: 200 }, (_, i) => `o-${i}`));
    expect(offers.filter((o) => o.startsWith("child-"))).toEqual(Array.from({ length: 200 }, (_, i) => `child-${i}`));
  });
});
