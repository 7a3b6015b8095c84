import { EXIT, UsageError, type Command } from "../command.js";
import { apiClient, clientOptions, clientOptionsHelp, enc, print, table } from "../api-client.js";

interface PointRow {
  id: string;
  device: string;
  unit: string | null;
  writable: boolean;
  latest: { value: unknown; quality: string; ts: number } | null;
}

/** A typed value from the command line: true/false, a number, else the text as is. */
export function parseValueArg(text: string): number | boolean | string {
  if (text === "true" || text === "false") return text === "true";
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) ? n : text;
}

export const pointsCommand: Command = {
  name: "points",
  summary: "List, read and write points of the running agent",
  help: `Usage: edge-agent points list | get ID | write ID VALUE  [options]

Talks to the running agent's local API. VALUE is in engineering units (true/false, a number, or text);
a write needs the token and a point marked writable.

Options:
${clientOptionsHelp}`,
  options: clientOptions,
  positionals: true,
  async run(values, [sub, ...args]) {
    const client = await apiClient(values);
    if (sub === "list" && args.length === 0) {
      const points = (await client.get("/points")) as PointRow[];
      const rows = points.map((p) => [p.id, p.device, p.latest ? String(p.latest.value) : "-", p.unit ?? "", p.latest?.quality ?? "", p.writable ? "yes" : "", p.latest ? new Date(p.latest.ts).toISOString() : ""]);
      print(client, points, table(["POINT", "DEVICE", "VALUE", "UNIT", "QUALITY", "WRITABLE", "TIME"], rows));
      return EXIT.ok;
    }
    if (sub === "get" && args.length === 1) {
      print(client, await client.get(`/points/${enc(args[0] ?? "")}`));
      return EXIT.ok;
    }
    if (sub === "write" && args.length === 2) {
      const r = (await client.send("POST", `/points/${enc(args[0] ?? "")}/write`, { value: parseValueArg(args[1] ?? "") })) as { point: string; value: unknown; raw: unknown };
      print(client, r, `wrote ${r.point} = ${String(r.value)} (raw ${String(r.raw)})`);
      return EXIT.ok;
    }
    throw new UsageError("points takes: list | get ID | write ID VALUE");
  },
};
