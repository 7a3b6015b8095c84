import type { IncomingMessage, ServerResponse } from "node:http";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface RouteCall {
  req: IncomingMessage;
  res: ServerResponse;
  /** The path's capture groups, URL-decoded. */
  params: string[];
  query: URLSearchParams;
}

/** One resource and method. A guarded route changes state: it needs the bearer token. */
export interface Route {
  method: Method;
  path: RegExp;
  guarded?: boolean;
  handle(call: RouteCall): Promise<void> | void;
}

/** The id in a path segment: `[^/]+` captured, decoded by the server. */
export const ID = "([^/]+)";

export function route(method: Method, path: string, handle: Route["handle"], guarded = method !== "GET"): Route {
  return { method, path: new RegExp(`^${path}$`), guarded, handle };
}
