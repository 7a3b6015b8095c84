/**
 * The compact per-device table `edge-agent sim fleet` prints when something changes. Pure: the CLI
 * decides when to print (and skips a table identical to the last one).
 */
import type { DeviceView } from "./devices.js";
import type { RolloutView } from "./rollout.js";

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

export function renderTable(devices: DeviceView[], rollouts: RolloutView[]): string {
  const lines: string[] = [];
  for (const r of rollouts) {
    if (r.state === "completed" && rollouts.length > 3) continue;
    const c = r.counts;
    lines.push(`rollout ${r.id} ${r.release} ${r.state}${r.currentStage !== null ? ` stage=${r.currentStage}` : ""} committed=${c.committed}/${c.targets} failed=${c.failures}${r.reason !== null ? ` reason: ${r.reason}` : ""}`);
  }
  const rows = devices.map((d) => {
    const progress = d.progress !== null && d.progress.total > 0 && d.state === "downloading" ? ` ${Math.floor((100 * d.progress.bytes) / d.progress.total)}%` : "";
    return [d.id, d.online === null ? "?" : d.online ? "online" : "offline", d.group ?? "-", `${d.state ?? "-"}${progress}`, d.installedVersion ?? "-", d.error?.code ?? ""];
  });
  const header = ["DEVICE", "LINK", "GROUP", "STATE", "INSTALLED", "ERROR"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (r: string[]) => r.map((c, i) => pad(c, widths[i] ?? 0)).join("  ").trimEnd();
  lines.push(fmt(header), ...rows.map(fmt));
  return lines.join("\n");
}
