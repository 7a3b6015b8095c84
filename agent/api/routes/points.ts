import { ApiError, readBody, sendJson } from "../http.js";
import { ID, route, type Route } from "../router.js";
import type { ApiContext } from "../context.js";

// The body/query schemas (zod, ~12 MB resident once loaded) are imported on the first request that needs them.
const schemas = () => import("./schemas.js");

/** Points (with their latest values), writes to writable points, and devices with their status. */
export function pointRoutes(cx: ApiContext): Route[] {
  const findPoint = (id: string) => {
    const p = cx.points().find((x) => x.id === id);
    if (!p) throw new ApiError(404, "point_unknown", `no point "${id}" in the configuration`);
    return p;
  };
  const findDevice = (id: string) => {
    const d = cx.devices().find((x) => x.id === id);
    if (!d) throw new ApiError(404, "device_unknown", `no device "${id}" in the configuration`);
    return d;
  };
  return [
    route("GET", "/points", ({ res }) => sendJson(res, 200, cx.points())),
    route("GET", `/points/${ID}`, ({ res, params: [id] }) => sendJson(res, 200, findPoint(id ?? ""))),
    route("POST", `/points/${ID}/write`, async ({ req, res, params: [id = ""] }) => {
      findPoint(id);
      const { value } = await readBody(req, (await schemas()).writeBody, '{"value": number | boolean | string}');
      const result = await cx.writePoint(id, value);
      cx.logger.info({ point: result.point, value: result.value, raw: result.raw }, "point written through the API");
      sendJson(res, 200, result);
    }),
    route("GET", "/devices", ({ res }) => sendJson(res, 200, cx.devices())),
    route("GET", `/devices/${ID}`, ({ res, params: [id] }) => sendJson(res, 200, findDevice(id ?? ""))),
  ];
}
