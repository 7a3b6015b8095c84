import { afterAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { CliProcess, parseReadyLine } from "../helpers/cli.js";
import { waitFor } from "../helpers/ports.js";
import { tempDir } from "../helpers/ota.js";

/** Live (non-zombie) processes in process group `pgid`, from /proc: a gateway is its supervisor's group. */
function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited while we looked
    }
    // The command name may hold spaces and parentheses; the fields after the last ")" are: state ppid pgrp ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") out.push(Number(name));
  }
  return out;
}

interface RolloutView {
  id: string;
  state: string;
  reason: string | null;
  devices: Record<string, { state: string }>;
}

const statesOf = (r: RolloutView) => Object.fromEntries(Object.entries(r.devices).map(([id, d]) => [id, d.state]));

describe("edge-agent sim fleet-demo", () => {
  const work = tempDir("sim-fleet-demo-");
  let demo: CliProcess | undefined;
  const groups: number[] = [];
  afterAll(async () => {
    await demo?.stop("SIGKILL", 5_000);
    // Never leave gateways behind, even when an assertion failed halfway.
    for (const pgid of groups) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  it("runs a good rollout to commit, rolls a broken canary back and halts, survives a killed gateway, and stops every process on Ctrl-C", async () => {
    demo = new CliProcess(["sim", "fleet-demo", "--gateways", "2", "--data-dir", work, "--mqtt-port", "0", "--fleet-port", "0"]);
    const ready = parseReadyLine(await demo.waitForLine(/^ready /, 90_000));
    expect(ready.mqtt).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.fleet).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.gateways).toBe("gw-1,gw-2");
    const fleet = ready.fleet ?? "";

    // The instructions come right after the ready line: one line per gateway with its pid, then the curls.
    const gateways = await waitFor("the gateway lines and both curl commands", () => {
      const pids = [...demo!.stdout.matchAll(/^ {2}(gw-\d+) {2}group=\S+ {2}pid=(\d+)/gm)].map((m) => ({ id: m[1]!, pid: Number(m[2]) }));
      return pids.length === 2 && demo!.stdout.match(/^\s+curl -s -X POST /gm)?.length === 2 ? pids : undefined;
    });
    groups.push(...gateways.map((g) => g.pid));
    // Each gateway group holds its supervisor and the agent it runs.
    await waitFor("a supervisor and an agent per gateway", () => gateways.every((g) => groupMembers(g.pid).length >= 2) || undefined, 10_000, 100);

    // The printed commands are what a developer pastes: take their bodies verbatim.
    const curls = [...demo.stdout.matchAll(/^\s+curl -s -X POST (\S+) .* -d '(.*)'$/gm)].map((m) => ({ url: m[1]!, body: m[2]! }));
    expect(curls.map((c) => c.url)).toEqual([`${fleet}/rollouts`, `${fleet}/rollouts`]);
    const [goodCurl, brokenCurl] = curls as [{ url: string; body: string }, { url: string; body: string }];
    expect(JSON.parse(goodCurl.body)).toMatchObject({ release: "edge-agent-1.1.0", stages: [{ name: "canary", devices: ["gw-1"] }, { name: "rest" }] });
    expect(JSON.parse(brokenCurl.body)).toMatchObject({ release: "edge-agent-1.2.0", stages: [{ name: "canary", devices: ["gw-1"] }, { name: "rest" }] });

    const post = async (c: { url: string; body: string }): Promise<string> => {
      const res = await fetch(c.url, { method: "POST", headers: { "content-type": "application/json" }, body: c.body });
      const text = await res.text();
      expect(res.status, text).toBe(201);
      return (JSON.parse(text) as RolloutView).id;
    };
    const finished = (id: string, what: string) =>
      waitFor(what, async () => {
        const r = (await (await fetch(`${fleet}/rollouts/${id}`)).json()) as RolloutView;
        return r.state === "completed" || r.state === "halted" ? r : undefined;
      }, 90_000, 250);

    const good = await finished(await post(goodCurl), "the good rollout to finish");
    expect(good.state, JSON.stringify(good)).toBe("completed");
    expect(statesOf(good)).toEqual({ "gw-1": "committed", "gw-2": "committed" });

    const broken = await finished(await post(brokenCurl), "the broken rollout to finish");
    expect(broken.state, JSON.stringify(broken)).toBe("halted");
    expect(broken.reason).toMatch(/gw-1/);
    expect(statesOf(broken)).toEqual({ "gw-1": "rolled_back", "gw-2": "pending" });
    // The table the developer watches says the same.
    await demo.waitForLine(/^rollout r-\S+ edge-agent-1\.2\.0 halted/, 5_000);

    // Killing one gateway (its whole group, as `kill -9 -PID` does) leaves the other and the fleet running.
    const [gw1, gw2] = gateways as [{ id: string; pid: number }, { id: string; pid: number }];
    process.kill(-gw2.pid, "SIGKILL");
    await demo.waitForLine(/^gateway gw-2 exited \(SIGKILL\); the other gateways and the fleet keep running/, 10_000);
    await waitFor("gw-2's processes gone", () => groupMembers(gw2.pid).length === 0 || undefined, 10_000, 100);
    expect(groupMembers(gw1.pid).length).toBeGreaterThanOrEqual(2);
    expect((await fetch(`${fleet}/devices`)).status).toBe(200);

    expect(await demo.stop("SIGINT", 30_000)).toBe(0);
    expect(demo.stdout).toMatch(/fleet demo stopped/);
    for (const g of gateways) expect(groupMembers(g.pid), `${g.id}'s processes`).toEqual([]);
  }, 240_000);
});
