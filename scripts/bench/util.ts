import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { setImmediate as yieldToLoop } from "node:timers/promises";

export { yieldToLoop };

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `done` every `everyMs` until it is true; throws `what` after timeoutMs. */
export async function waitUntil(done: () => boolean, timeoutMs: number, what: string, everyMs = 1): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** 1234567.8 -> "1,234,568"; small numbers keep some decimals. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  const digits = abs >= 1000 ? 0 : abs >= 100 ? 1 : abs >= 1 ? 2 : 3;
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// ---------------------------------------------------------------------------------------------------
// Linux /proc sampling (RSS and CPU time of a pid), used by the footprint scenarios.

let clkTck: number | null = null;

/** Clock ticks per second for /proc/<pid>/stat times (almost always 100). */
export function clockTicks(): number {
  if (clkTck !== null) return clkTck;
  try {
    const n = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
    clkTck = Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    clkTck = 100;
  }
  return clkTck;
}

export interface ProcSample {
  /** Resident set size in bytes. */
  rssBytes: number;
  /** utime + stime in seconds (clock-tick resolution, usually 10 ms). */
  cpuS: number;
  /**
   * CPU time in seconds summed over the live threads' /proc/<pid>/task/<tid>/schedstat (nanosecond
   * resolution, which a mostly idle process needs), or null where schedstat is not available.
   * Threads that exited are missing from it; Node's threads live as long as the process.
   */
  cpuPreciseS: number | null;
}

function schedstatCpuS(pid: number): number | null {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // the thread ended between readdir and read
      }
    }
    return Number.isFinite(ns) ? ns / 1e9 : null;
  } catch {
    return null;
  }
}

/** RSS and CPU time of a live process, or null when it has gone. */
export function readProc(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return { rssBytes: Number(rss?.[1] ?? 0) * 1024, cpuS: (utime + stime) / clockTicks(), cpuPreciseS: schedstatCpuS(pid) };
  } catch {
    return null;
  }
}

/** The parent pid and command line of a process, or null when it has gone. */
export function procInfo(pid: number): { ppid: number; cmdline: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    return { ppid: Number(fields[1]), cmdline };
  } catch {
    return null;
  }
}

/** Direct children of a process (by scanning /proc, which works without CONFIG_PROC_CHILDREN). */
export function childrenOf(ppid: number): Array<{ pid: number; cmdline: string }> {
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const info = procInfo(pid);
    if (info && info.ppid === ppid) out.push({ pid, cmdline: info.cmdline });
  }
  return out;
}

interface Mark {
  t: number;
  cpuS: number;
  cpuPreciseS: number | null;
}

/**
 * Tracks one process over a window: max and last RSS, and CPU % of one core between the first and the
 * last sample (from schedstat when available, else from the clock-tick counters).
 */
export class ProcMeter {
  private first: Mark | null = null;
  private last: (Mark & { rssBytes: number }) | null = null;
  private maxRss = 0;
  samples = 0;

  constructor(readonly pid: number) {}

  /** Takes one sample; false when the process has gone. */
  sample(): boolean {
    const p = readProc(this.pid);
    if (!p) return false;
    const t = performance.now();
    if (!this.first) this.first = { t, cpuS: p.cpuS, cpuPreciseS: p.cpuPreciseS };
    this.last = { t, cpuS: p.cpuS, cpuPreciseS: p.cpuPreciseS, rssBytes: p.rssBytes };
    this.maxRss = Math.max(this.maxRss, p.rssBytes);
    this.samples++;
    return true;
  }

  result(): {
    rssMaxMB: number;
    rssEndMB: number;
    cpuPercent: number;
    cpuPercentTicks: number;
    cpuSource: "schedstat" | "stat";
    windowS: number;
    samples: number;
  } {
    const { first, last } = this;
    if (!first || !last) throw new Error(`no sample of pid ${this.pid} was taken`);
    const windowS = (last.t - first.t) / 1000;
    const pct = (cpuS: number) => (windowS > 0 ? (cpuS / windowS) * 100 : 0);
    const cpuPercentTicks = pct(last.cpuS - first.cpuS);
    const precise = first.cpuPreciseS !== null && last.cpuPreciseS !== null ? pct(last.cpuPreciseS - first.cpuPreciseS) : null;
    const mb = (b: number) => b / (1024 * 1024);
    return {
      rssMaxMB: mb(this.maxRss),
      rssEndMB: mb(last.rssBytes),
      cpuPercent: precise ?? cpuPercentTicks,
      cpuPercentTicks,
      cpuSource: precise !== null ? "schedstat" : "stat",
      windowS,
      samples: this.samples,
    };
  }
}
