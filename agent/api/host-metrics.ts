import { readFile, statfs } from "node:fs/promises";
import { freemem, loadavg, totalmem } from "node:os";
import type { PromText } from "./prom-text.js";

/** Where a Raspberry Pi (and most Linux boards) report the SoC temperature, in millidegrees. */
export const DEFAULT_THERMAL_FILE = "/sys/class/thermal/thermal_zone0/temp";

export interface HostReadings {
  /** CPU time of this process (user + system), seconds. */
  cpuSeconds: number;
  rssBytes: number;
  /** The JavaScript heap and the memory its objects hold outside it: what of the RSS is the agent's own data. */
  heap: { totalBytes: number; usedBytes: number; externalBytes: number };
  startTimeS: number;
  /** null when the board has no thermal zone (containers, most x86 VMs). */
  cpuTemperatureC: number | null;
  /** The file system holding the data folder: what the agent may still write, and its size; null if unreadable. */
  disk: { path: string; availableBytes: number; sizeBytes: number } | null;
  memory: { availableBytes: number; totalBytes: number };
  load: [number, number, number];
}

export interface HostReadOptions {
  dataDir: string;
  thermalFile?: string;
}

/**
 * Reads the process and host figures a gateway operator watches: a Pi that throttles when hot, an SD
 * card filling up, memory running out. Each probe fails on its own (a missing sensor is not an error).
 */
export async function readHost(options: HostReadOptions): Promise<HostReadings> {
  const cpu = process.cpuUsage();
  const [cpuTemperatureC, disk] = await Promise.all([readTemperature(options.thermalFile ?? DEFAULT_THERMAL_FILE), readDisk(options.dataDir)]);
  const [l1 = 0, l5 = 0, l15 = 0] = loadavg();
  return {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    ...processMemory(),
    startTimeS: Math.round((Date.now() - process.uptime() * 1000) / 1000),
    cpuTemperatureC,
    disk,
    // On Linux libuv reads MemAvailable (page cache counts as available), which is what matters here.
    memory: { availableBytes: freemem(), totalBytes: totalmem() },
    load: [l1, l5, l15],
  };
}

function processMemory(): Pick<HostReadings, "rssBytes" | "heap"> {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heap: { totalBytes: m.heapTotal, usedBytes: m.heapUsed, externalBytes: m.external } };
}

async function readTemperature(file: string): Promise<number | null> {
  try {
    const milli = Number((await readFile(file, "utf8")).trim());
    return Number.isFinite(milli) ? milli / 1000 : null;
  } catch {
    return null;
  }
}

async function readDisk(path: string): Promise<HostReadings["disk"]> {
  try {
    const s = await statfs(path);
    // bavail, not bfree: the blocks reserved for root are not there for a service that runs as a user.
    return { path, availableBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
  } catch {
    return null;
  }
}

/** The process families use the names every Prometheus client library uses, so stock dashboards work. */
export function writeHostMetrics(out: PromText, h: HostReadings): void {
  out.one("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", h.cpuSeconds);
  out.one("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", h.rssBytes);
  out.one("nodejs_heap_size_total_bytes", "gauge", "Process heap size from Node.js in bytes.", h.heap.totalBytes);
  out.one("nodejs_heap_size_used_bytes", "gauge", "Process heap size used from Node.js in bytes.", h.heap.usedBytes);
  out.one("nodejs_external_memory_bytes", "gauge", "Node.js external memory size in bytes.", h.heap.externalBytes);
  out.one("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", h.startTimeS);
  if (h.cpuTemperatureC !== null) out.one("edge_host_cpu_temperature_celsius", "gauge", "CPU (SoC) temperature from the first thermal zone.", h.cpuTemperatureC);
  if (h.disk) {
    out.family("edge_host_disk_available_bytes", "gauge", "Bytes the agent can still write on the file system of its data folder.", [[{ path: h.disk.path }, h.disk.availableBytes]]);
    out.family("edge_host_disk_size_bytes", "gauge", "Size of the file system of the data folder.", [[{ path: h.disk.path }, h.disk.sizeBytes]]);
  }
  out.one("edge_host_memory_available_bytes", "gauge", "Memory available to new work without swapping (MemAvailable).", h.memory.availableBytes);
  out.one("edge_host_memory_total_bytes", "gauge", "Total physical memory.", h.memory.totalBytes);
  out.family("edge_host_load_average", "gauge", "System load average over 1, 5 and 15 minutes.", [
    [{ window: "1m" }, h.load[0]],
    [{ window: "5m" }, h.load[1]],
    [{ window: "15m" }, h.load[2]],
  ]);
}
