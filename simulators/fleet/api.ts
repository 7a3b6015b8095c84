/**
 * The fleet's HTTP side: release downloads for devices, and a JSON API for operators and tests.
 *
 *   GET  /health                      {ok, mqtt}
 *   GET  /stats                       status/offer/download counters
 *   GET  /releases                    releases in the folder (and what is wrong with broken ones)
 *   GET  /releases/<file>             a release file (HEAD too), with Range
 *   GET|PUT|DELETE /faults            download faults (faults.ts)
 *   GET  /devices                     per-device state
 *   GET  /rollouts  POST /rollouts    list / start a staged rollout
 *   GET  /rollouts/:id                one rollout with per-device state
 *   POST /rollouts/:id/halt|resume    stop offering / go on
 *   POST /offers                      one offer outside a rollout: {release, device | group}
 *   POST /claim-tokens                add claim tokens: [{token, group?}] or {tokens: [...]}
 *   GET  /claim-tokens                counts only (tokens are secrets)
 *   GET  /provision/nonce             a nonce for proof of the device key
 *   POST /provision                   {claimToken, deviceId, publicKey[, nonce, signature]}
 *
 * No authentication: a simulator bound to 127.0.0.1 by default, not a service.
 */
import http from "node:http";
import type { Logger } from "pino";
import { errorMessage } from "../../edge/errors.js";
import { downloadFaultsSchema, type DownloadFaults } from "./faults.js";
import { serveReleaseFile, type FileServeStats } from "./files.js";
import { FleetApiError, type FleetCore } from "./fleet.js";
import { claimTokenFileSchema, ProvisionError, type Provisioner } from "./provision.js";
import type { ReleaseStore } from "./store.js";

const MAX_BODY = 1024 * 1024;

export interface ApiContext {
  core: FleetCore;
  store: ReleaseStore;
  faults: DownloadFaults;
  provisioner: Provisioner;
  downloads: FileServeStats;
  mqttConnected(): boolean;
  logger: Logger;
  signal: AbortSignal;
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new FleetApiError(413, `body larger than ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new FleetApiError(400, `body is not JSON: ${errorMessage(err)}`));
      }
    });
  });
}

async function route(ctx: ApiContext, req: http.IncomingMessage, url: URL): Promise<{ status: number; body: unknown }> {
  const method = req.method ?? "GET";
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const ok = (body: unknown, status = 200) => ({ status, body });
  const only = (...methods: string[]) => {
    if (!methods.includes(method)) throw new FleetApiError(405, `${path} takes ${methods.join(", ")}`);
  };
  if (path === "/health") return ok({ ok: true, mqtt: ctx.mqttConnected() });
  if (path === "/stats") return only("GET"), ok({ ...ctx.core.stats, downloads: ctx.downloads, claimTokens: ctx.provisioner.tokenSummary() });
  if (path === "/releases") {
    only("GET");
    const { releases, problems } = ctx.core.releases();
    return ok({ releases: releases.map((r) => ({ id: r.id, base: r.base, archive: r.archive, size: r.archiveSize, manifest: r.manifest, signatures: r.signatures.length })), problems });
  }
  if (path === "/faults") {
    only("GET", "PUT", "DELETE");
    if (method === "PUT") {
      const body = await readJson(req);
      const parsed = downloadFaultsSchema.safeParse(Array.isArray(body) ? body : [body]);
      if (!parsed.success) throw new FleetApiError(400, `bad faults: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
      ctx.faults.set(parsed.data);
    } else if (method === "DELETE") ctx.faults.clear();
    return ok({ faults: ctx.faults.list() });
  }
  if (path === "/devices") return only("GET"), ok({ devices: ctx.core.devices() });
  if (path === "/rollouts") {
    only("GET", "POST");
    if (method === "POST") return ok(ctx.core.createRollout(await readJson(req)), 201);
    return ok({ rollouts: ctx.core.rolloutViews() });
  }
  const m = /^\/rollouts\/([^/]+)(?:\/(halt|resume))?$/.exec(path);
  if (m?.[1] !== undefined) {
    const id = decodeURIComponent(m[1]);
    if (m[2] === undefined) return only("GET"), ok(ctx.core.rollout(id).view());
    only("POST");
    if (m[2] === "resume") return ok(ctx.core.resume(id));
    const body = (await readJson(req)) as { reason?: unknown };
    return ok(ctx.core.halt(id, typeof body.reason === "string" ? body.reason : undefined));
  }
  if (path === "/offers") return only("POST"), ok(await ctx.core.directOffer(await readJson(req)), 201);
  if (path === "/claim-tokens") {
    only("GET", "POST");
    if (method === "POST") {
      const parsed = claimTokenFileSchema.safeParse(await readJson(req));
      if (!parsed.success) throw new FleetApiError(400, `bad claim tokens: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
      const added = ctx.provisioner.addTokens(Array.isArray(parsed.data) ? parsed.data : parsed.data.tokens);
      return ok({ added, ...ctx.provisioner.tokenSummary() }, 201);
    }
    return ok(ctx.provisioner.tokenSummary());
  }
  if (path === "/provision/nonce") return only("GET", "POST"), ok(ctx.provisioner.nonce());
  if (path === "/provision") {
    only("GET", "POST");
    if (method === "GET") return ok({ requireProof: ctx.provisioner.requireProof, devices: ctx.provisioner.provisioned() });
    return ok(ctx.provisioner.provision(await readJson(req)));
  }
  throw new FleetApiError(404, `no such resource ${path}`);
}

export function createApiServer(ctx: ApiContext): http.Server {
  const logger = ctx.logger.child({ component: "fleet-http" });
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://fleet");
    const send = (status: number, body: unknown): void => {
      if (res.headersSent || res.destroyed) return;
      const text = JSON.stringify(body, null, 1) + "\n";
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    };
    const fail = (err: unknown): void => {
      if (err instanceof FleetApiError || err instanceof ProvisionError) return send(err.status, { error: err.message });
      logger.error({ err: errorMessage(err), path: url.pathname }, "fleet request failed");
      if (!res.headersSent) send(500, { error: errorMessage(err) });
      else res.destroy();
    };
    if (url.pathname.startsWith("/releases/")) {
      if (req.method !== "GET" && req.method !== "HEAD") return send(405, { error: "release files take GET, HEAD" });
      let name: string;
      try {
        name = decodeURIComponent(url.pathname.slice("/releases/".length));
      } catch {
        return send(400, { error: "bad percent-encoding in the file name" });
      }
      serveReleaseFile({ store: ctx.store, faults: ctx.faults, logger, stats: ctx.downloads, signal: ctx.signal }, name, req, res).catch(fail);
      return;
    }
    route(ctx, req, url).then(({ status, body }) => send(status, body), fail);
  });
}
