import { readBody, readJson, sendJson } from "../http.js";
import { ID, route, type Route } from "../router.js";
import type { ApiContext } from "../context.js";
import { loadRuleSchemas } from "../../rules/load-schemas.js";

// The body/query schemas (zod, ~12 MB resident once loaded) are imported on the first request that needs them.
const schemas = () => import("./schemas.js");

/**
 * Rules: list, get, create/replace/delete (API rules), enable/disable (any rule) and a hot reload of
 * the config file's rules. Bodies are checked by the rules schema; a set that does not compile is
 * refused as a whole with 400 and every problem, and the running rules stay.
 */
export function ruleRoutes(cx: ApiContext): Route[] {
  const r = cx.rules;
  return [
    route("GET", "/rules", ({ res }) => sendJson(res, 200, r.list())),
    route("POST", "/rules", async ({ req, res }) => {
      const body = await readJson(req);
      // The rule schema (zod) loads with the first rule an agent gets: see agent/rules/load-schemas.ts.
      await loadRuleSchemas();
      sendJson(res, 201, r.create(body));
    }),
    route("POST", "/rules/reload", async ({ req, res }) => {
      // An empty body is fine; anything sent must be JSON.
      if (req.headers["content-type"]) await readBody(req, (await schemas()).reloadBody, "no body or {}");
      sendJson(res, 200, { ok: true, ...(await r.reloadConfig()), rules: r.list() });
    }),
    route("GET", `/rules/${ID}`, ({ res, params: [id = ""] }) => sendJson(res, 200, r.get(id))),
    route("PUT", `/rules/${ID}`, async ({ req, res, params: [id = ""] }) => {
      const body = await readJson(req);
      await loadRuleSchemas();
      sendJson(res, 200, r.replace(id, body));
    }),
    route("DELETE", `/rules/${ID}`, ({ res, params: [id = ""] }) => {
      r.remove(id);
      sendJson(res, 200, { ok: true, deleted: id });
    }),
    route("POST", `/rules/${ID}/enable`, ({ res, params: [id = ""] }) => sendJson(res, 200, r.setEnabled(id, true))),
    route("POST", `/rules/${ID}/disable`, ({ res, params: [id = ""] }) => sendJson(res, 200, r.setEnabled(id, false))),
  ];
}
