import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { ApiError, sendJson, toApiError } from "./http.js";
import { requireToken } from "./auth.js";
import type { Route } from "./router.js";
import type { ApiContext } from "./context.js";
import { systemRoutes } from "./routes/system.js";
import { pointRoutes } from "./routes/points.js";
import { ruleRoutes } from "./routes/rules.js";
import { alarmRoutes } from "./routes/alarms.js";
import { logLevelRoutes } from "./routes/log-level.js";
import { dashboardRoutes } from "./routes/dashboard.js";

export interface ApiServerOptions extends ApiContext {
  host: string;
  port: number;
  /** Bearer token for every request that changes state. */
  token: string;
}

/**
 * The local HTTP API. Reads are open (it listens on loopback by default); anything that changes state
 * needs the bearer token. Every answer is JSON (or Prometheus text, or the dashboard's static files);
 * errors are `{error: {code, message}}`.
 */
export class ApiServer {
  private server: Server | null = null;
  private readonly routes: Route[];

  constructor(private readonly options: ApiServerOptions) {
    this.routes = [
      ...systemRoutes(options),
      ...logLevelRoutes(options),
      ...pointRoutes(options),
      ...ruleRoutes(options),
      ...alarmRoutes(options),
      ...dashboardRoutes(),
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
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const started = performance.now();
    await this.dispatch(req, res, url, path);
    // Every request at debug: the dashboard polls each second, so this is only for chasing a problem.
    const log = this.options.logger;
    if (log.isLevelEnabled("debug")) log.debug({ method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - started) }, "API request");
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse, url: URL, path: string): Promise<void> {
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
      // Ids are decoded one by one, so an encoded "/" in an id cannot change which route matches.
      const params = (route.path.exec(path) ?? []).slice(1).map((p) => decodeURIComponent(p));
      await route.handle({ req, res, params, query: url.searchParams });
    } catch (err) {
      const api = toApiError(err) ?? (err instanceof URIError ? new ApiError(400, "invalid_path", `the path is not valid: ${path}`) : null);
      if (api) return sendJson(res, api.status, api.body());
      this.options.logger.error({ err: errorMessage(err), path }, "API handler failed");
      sendJson(res, 500, { error: { code: "internal", message: errorMessage(err) } });
    }
  }
}
