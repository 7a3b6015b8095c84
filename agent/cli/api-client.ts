import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { errorMessage } from "../../edge/errors.js";
import { UsageError, type OptionSpec, type OptionValues } from "./command.js";

/** Options of every command that talks to the running agent. */
export const clientOptions: OptionSpec = {
  api: { type: "string" },
  token: { type: "string" },
  config: { type: "string", short: "c" },
  json: { type: "boolean" },
};

export const clientOptionsHelp = `  -c, --config FILE  the agent's config: API address (api.host/port) and token ({dataDir}/api-token)
      --api URL      the agent's API (default http://127.0.0.1:8080, or from --config)
      --token TOKEN  bearer token for changes (default: read from {dataDir}/api-token)
      --json         print the API's JSON as it is`;

/** A failure the user can act on: printed without a stack, exit code 1. */
export class CliFailure extends Error {}

export interface ApiClient {
  readonly base: string;
  readonly json: boolean;
  get(path: string): Promise<unknown>;
  send(method: "POST" | "PUT" | "DELETE", path: string, body?: unknown): Promise<unknown>;
}

/**
 * The local API as the CLI reaches it. The address and token come from the flags, else from the
 * config file (api section, dataDir), else the defaults; a refused connection says which address was
 * tried, and an API error prints its message.
 */
export async function apiClient(values: OptionValues): Promise<ApiClient> {
  const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  let base = str("api");
  let dataDir = "./data";
  const file = str("config");
  if (file) {
    const { loadConfig } = await import("../config/load.js");
    const config = loadConfig(file);
    dataDir = config.dataDir;
    // A wildcard listen address is reached on loopback.
    const host = config.api.host === "0.0.0.0" || config.api.host === "::" ? "127.0.0.1" : config.api.host;
    base ??= `http://${host.includes(":") ? `[${host}]` : host}:${config.api.port}`;
  }
  base = (base ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  if (!/^https?:\/\/./.test(base)) throw new UsageError(`--api must be a URL like http://127.0.0.1:8080, got ${JSON.stringify(base)}`);
  const tokenFile = join(dataDir, "api-token");
  const token = str("token") ?? (existsSync(tokenFile) ? readFileSync(tokenFile, "utf8").trim() : undefined);

  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      throw new CliFailure(`cannot reach the agent: is the agent running? tried ${base}${path} (${errorMessage(cause ?? err)})`);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text) as unknown;
    } catch {
      // Not JSON: shown as text below.
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string; problems?: string[] } } | null)?.error;
      const hint = res.status === 401 ? `\n(pass --token, or --config so the token is read from ${tokenFile})` : "";
      const message = e?.message ?? `HTTP ${res.status}: ${text}`;
      // A refused rule set already lists its problems in the message; other errors may only carry them apart.
      const missing = (e?.problems ?? []).filter((p) => !message.includes(p));
      throw new CliFailure(`${message}${missing.map((p) => `\n  ${p}`).join("")}${hint}`);
    }
    return parsed;
  };
  return {
    base,
    json: values.json === true,
    get: (path) => call("GET", path),
    send: (method, path, body) => call(method, path, body),
  };
}

/** Prints a result: JSON when asked (or no text form), else the given text. */
export function print(client: ApiClient, data: unknown, text?: string): void {
  process.stdout.write((client.json || text === undefined ? JSON.stringify(data, null, 2) : text) + "\n");
}

/** Renders rows as aligned columns. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function enc(id: string): string {
  return encodeURIComponent(id);
}
