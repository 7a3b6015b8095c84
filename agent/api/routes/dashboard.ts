import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import { packageRoot } from "../../paths.js";
import { ApiError } from "../http.js";
import { ID, route, type Route, type RouteCall } from "../router.js";

/** The only files served, with their types: anything else under /dashboard/ is a 404, so no path can escape. */
const FILES: Readonly<Record<string, string>> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

/**
 * The dashboard's static files stay in the source folder (agent/dashboard), found from the package
 * root: the same folder whether the agent runs from the source tree, from dist/ or from a release
 * (package.json "files" lists them). tsc copies nothing that is not TypeScript, so no build step is needed.
 */
export function dashboardDir(): string {
  return join(packageRoot(), "agent", "dashboard");
}

/**
 * The page can only talk to this origin and run its own script: whatever a device or a rule puts in a
 * string, the browser will not load or execute anything from elsewhere.
 */
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

/** GET / (the page) and GET /dashboard/{file}: read-only, no token needed; changes go through the API. */
export function dashboardRoutes(dir: string = dashboardDir()): Route[] {
  const serve = async ({ req, res }: RouteCall, name: string) => {
    const type = FILES[name];
    if (!type) throw new ApiError(404, "not_found", `no such dashboard file: ${name}`);
    let body: Buffer;
    try {
      body = await readFile(join(dir, name));
    } catch {
      throw new ApiError(404, "dashboard_missing", `the dashboard file ${name} is not in ${dir} (an incomplete install?)`);
    }
    // Revalidated on every load (no-cache) but sent again only when it changed: after an OTA update the
    // browser gets the new page at once, and a reload costs a 304.
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
    const headers = { ...SECURITY_HEADERS, "cache-control": "no-cache", etag };
    if (req.headers["if-none-match"] === etag) return send(res, 304, headers);
    send(res, 200, { ...headers, "content-type": type, "content-length": body.length }, body);
  };
  return [
    route("GET", "/", (call) => serve(call, "index.html")),
    route("GET", "/dashboard", (call) => serve(call, "index.html")),
    route("GET", `/dashboard/${ID}`, (call) => serve(call, call.params[0] ?? "")),
  ];
}

function send(res: ServerResponse, status: number, headers: Record<string, string | number>, body?: Buffer): void {
  res.writeHead(status, headers);
  res.end(body);
}
