import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import type { Logger } from "../../edge/logger.js";
import type { SampleValue } from "../../edge/model.js";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import type { AgentStatus } from "../runtime/status.js";
import type { PointView } from "../runtime/points.js";
import type { WriteResult } from "../../edge/pipeline/point-writer.js";
import { renderMetrics } from "./metrics.js";
import { ApiError, readJson, sendJson, toApiError } from "./http.js";
import { requireToken } from "./auth.js";

export interface ApiServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Bearer token for every request that changes state. */
  token: string;
  status: () => AgentStatus;
  points: () => PointView[];
  writePoint: (id: string, value: SampleValue) => Promise<WriteResult>;
}

interface Route {
  method: "GET" | "POST";
  path: RegExp;
  /** Changes state: needs the token. */
  guarded?: boolean;
  handle: (req: IncomingMessage, res: ServerResponse, params: string[]) => Promise<void> | void;
}

const writeBody = z.strictObject({ value: z.union([z.number(), z.boolean(), z.string()]) });

/**
 * The local HTTP API. Reads are open (it listens on loopback by default); anything that changes state
 * needs the bearer token. Every answer is JSON (or Prometheus text), errors included.
 */
export class ApiServer {
  private server: Server | null = null;
  private readonly routes: Route[];

  constructor(private readonly options: ApiServerOptions) {
    const o = options;
    const findPoint = (id: string) => {
      const p = o.points().find((x) => x.id === id);
      if (!p) throw new ApiError(404, "point_unknown", `no point "${id}" in the configuration`);
      return p;
    };
    this.routes = [
      { method: "GET", path: /^\/health$/, handle: (_q, res) => sendJson(res, 200, { status: "ok" }) },
      { method: "GET", path: /^\/status$/, handle: (_q, res) => sendJson(res, 200, o.status()) },
      {
        method: "GET",
        path: /^\/metrics$/,
        handle: (_q, res) => {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
          res.end(renderMetrics(o.status()));
        },
      },
      { method: "GET", path: /^\/points$/, handle: (_q, res) => sendJson(res, 200, o.points()) },
      { method: "GET", path: /^\/points\/([^/]+)$/, handle: (_q, res, [id]) => sendJson(res, 200, findPoint(id ?? "")) },
      {
        method: "POST",
        path: /^\/points\/([^/]+)\/write$/,
        guarded: true,
        handle: async (req, res, [id]) => {
          findPoint(id ?? "");
          const parsed = writeBody.safeParse(await readJson(req));
          if (!parsed.success) throw new ApiError(400, "invalid_body", 'expected {"value": number | boolean | string}');
          const result = await o.writePoint(id ?? "", parsed.data.value);
          o.logger.info({ point: result.point, value: result.value, raw: result.raw }, "point written through the API");
          sendJson(res, 200, result);
        },
      },
    ];
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    // Keep-alive sockets from a browser or curl must not hold up a clean stop.
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          err.code === "EADDRINUSE"
            ? new EdgeError("API_PORT_BUSY", `the local API cannot listen on ${this.options.host}:${this.options.port}: the port is in use (set api.port in the config)`, { cause: err })
            : err,
        ),
      );
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    this.server = server;
    const { address, port } = server.address() as AddressInfo;
    this.options.logger.info({ url: `http://${address}:${port}` }, "local API listening");
  }

  address(): { host: string; port: number } | null {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : null;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname.replace(/\/+$/, "") || "/");
    try {
      const matching = this.routes.filter((r) => r.path.test(path));
      if (matching.length === 0) throw new ApiError(404, "not_found", `no such resource: ${path}`);
      const method = req.method === "HEAD" ? "GET" : req.method;
      const route = matching.find((r) => r.method === method);
      if (!route) {
        res.setHeader("allow", [...new Set(matching.map((r) => r.method))].join(", "));
        throw new ApiError(405, "method_not_allowed", `${req.method} is not allowed on ${path}`);
      }
      if (route.guarded) requireToken(req, this.options.token);
      const params = (route.path.exec(path) ?? []).slice(1);
      await route.handle(req, res, params);
    } catch (err) {
      const api = toApiError(err);
      if (api) return sendJson(res, api.status, { error: api.error, message: api.message });
      this.options.logger.error({ err: errorMessage(err), path }, "API handler failed");
      sendJson(res, 500, { error: "internal", message: errorMessage(err) });
    }
  }
}
