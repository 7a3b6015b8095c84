/**
 * A tiny HTTP endpoint to steer a running simulator from a shell or a test:
 *
 *   GET    /stats                      counters (SimulatorStats) as JSON
 *   GET    /faults                     the faults in force
 *   PUT    /faults                     replace them; body = the profile's `faults:` section as JSON
 *   DELETE /faults                     clear them
 *   POST   /offline?seconds=N[&unit=U] the device (or one unit id) goes offline for N seconds
 *   POST   /online[?unit=U]            back now
 *
 * It binds 127.0.0.1 only and has no authentication: it is a test tool, not a service.
 */
import http from "node:http";
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import type { ModbusSimulatorControls } from "./index.js";

export interface ModbusControlOptions {
  /** Default 0 (any free port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  logger?: Logger;
}

export interface ModbusControlServer {
  readonly port: number;
  /** http://127.0.0.1:PORT */
  readonly url: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function optionalUnit(query: URLSearchParams): number | undefined {
  const raw = query.get("unit");
  if (raw === null) return undefined;
  if (!/^\d{1,3}$/.test(raw) || Number(raw) > 255) throw new HttpError(400, `unit must be 0..255, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

const ROUTES: Record<string, string[]> = {
  "/stats": ["GET"],
  "/faults": ["GET", "PUT", "DELETE"],
  "/offline": ["POST"],
  "/online": ["POST"],
};

async function route(sim: ModbusSimulatorControls, req: http.IncomingMessage, url: URL): Promise<unknown> {
  const methods = ROUTES[url.pathname];
  if (methods === undefined) throw new HttpError(404, `no such resource ${url.pathname}; try ${Object.keys(ROUTES).join(", ")}`);
  const method = req.method ?? "GET";
  if (!methods.includes(method)) throw new HttpError(405, `${url.pathname} takes ${methods.join(", ")}`);
  switch (`${method} ${url.pathname}`) {
    case "GET /stats":
      return sim.stats();
    case "GET /faults":
      return sim.faults();
    case "PUT /faults": {
      const text = await readBody(req);
      let body: unknown;
      try {
        body = text.trim() === "" ? {} : JSON.parse(text);
      } catch (err) {
        throw new HttpError(400, `body is not JSON: ${errorMessage(err)}`);
      }
      sim.setFaults(body as never); // validated inside: SIM_FAULTS_INVALID → 400
      return sim.faults();
    }
    case "DELETE /faults":
      sim.clearFaults();
      return sim.faults();
    case "POST /offline": {
      const raw = url.searchParams.get("seconds");
      const seconds = raw === null ? NaN : Number(raw);
      if (raw === null || !Number.isFinite(seconds) || seconds <= 0) throw new HttpError(400, `seconds must be a positive number, got ${JSON.stringify(raw)}`);
      const unit = optionalUnit(url.searchParams);
      await sim.goOffline(seconds, unit);
      return { offline: true, seconds, ...(unit !== undefined ? { unit } : {}) };
    }
    case "POST /online": {
      const unit = optionalUnit(url.searchParams);
      await sim.goOnline(unit);
      return { offline: false, ...(unit !== undefined ? { unit } : {}) };
    }
    default:
      throw new HttpError(404, `no such resource ${url.pathname}`);
  }
}

export async function startModbusControlServer(sim: ModbusSimulatorControls, options: ModbusControlOptions = {}): Promise<ModbusControlServer> {
  const host = options.host ?? "127.0.0.1";
  const logger = options.logger?.child({ component: "modbus-sim-control" });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://control");
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body) + "\n";
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    route(sim, req, url).then(
      (body) => send(200, body),
      (err: unknown) => {
        if (err instanceof HttpError) {
          if (err.status === 405) res.setHeader("allow", (ROUTES[url.pathname] ?? []).join(", "));
          send(err.status, { error: err.message });
        } else if (err instanceof EdgeError && (err.code === "SIM_FAULTS_INVALID" || err.code === "SIM_OPTIONS_INVALID")) {
          send(400, { error: err.message });
        } else {
          logger?.error({ err: errorMessage(err) }, "modbus control request failed");
          send(500, { error: errorMessage(err) });
        }
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new EdgeError("SIM_LISTEN", `Modbus simulator control endpoint cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, { cause: err }));
    server.once("error", onError);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : (options.port ?? 0);
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
