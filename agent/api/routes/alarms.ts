import { ApiError, readBody, sendJson } from "../http.js";
import { ID, route, type Route } from "../router.js";
import type { ApiContext } from "../context.js";

// The body/query schemas (zod, ~12 MB resident once loaded) are imported on the first request that needs them.
const schemas = () => import("./schemas.js");

/** Alarms: the open ones (default) or the newest of any state, and the operator's acknowledgement. */
export function alarmRoutes(cx: ApiContext): Route[] {
  return [
    route("GET", "/alarms", async ({ res, query: q }) => {
      const parsed = (await schemas()).alarmsQuery.safeParse(Object.fromEntries(q));
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`);
        throw new ApiError(400, "invalid_query", `expected ?state=active|all&rule=ID&severity=LEVEL&limit=N: ${problems.join("; ")}`, problems);
      }
      const { state, ...rest } = parsed.data;
      // "active" means not yet closed: still raised, or cleared and waiting for an acknowledgement.
      sendJson(res, 200, cx.rules.alarms({ state: state === "active" ? "open" : "all", ...rest }));
    }),
    route("POST", `/alarms/${ID}/ack`, async ({ req, res, params: [id = ""] }) => {
      const alarmId = Number(id);
      if (!Number.isSafeInteger(alarmId) || alarmId <= 0) throw new ApiError(400, "invalid_alarm_id", `"${id}" is not an alarm id (a positive integer)`);
      const body = req.headers["content-type"] ? await readBody(req, (await schemas()).ackBody, '{"by"?: string} or no body') : {};
      sendJson(res, 200, cx.rules.acknowledge(alarmId, body.by ?? "api"));
    }),
  ];
}
