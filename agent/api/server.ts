import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../../edge/logger.js";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import type { AgentStatus } from "../runtime/status.js";
import { renderMetrics } from "./metrics.js";

export interface ApiServerOptions {
  host: string;
  port: number;
  logger: Logger;
  status: () => AgentStatus;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The local HTTP API. Reads only so far (health, status, metrics); anything that changes state will
 * need the bearer token. Every answer is JSON (or Prometheus text), including errors.
 */
export class ApiServer {
  private server: Server | null = null;
  private readonly routes: Record<string, Handler>;

  constructor(private readonly options: ApiServerOptions) {
    this.routes = {
      "/health": (_req, res) => sendJson(res, 200, { status: "ok" }),
      "/status": (_req, res) => sendJson(res, 200, options.status()),
      "/metrics": (_req, res) => {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
        res.end(renderMetrics(options.status()));
      },
    };
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
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

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? "/", "http://localhost").pathname.replace(/\/+$/, "") || "/";
    const route = this.routes[path];
    if (!route) return sendJson(res, 404, { error: "not_found", message: `no such resource: ${path}`, resources: Object.keys(this.routes) });
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return sendJson(res, 405, { error: "method_not_allowed", message: `${req.method} is not allowed on ${path}` });
    }
    try {
      route(req, res);
    } catch (err) {
      this.options.logger.error({ err: errorMessage(err), path }, "API handler failed");
      sendJson(res, 500, { error: "internal", message: errorMessage(err) });
    }
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + "\n";
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
