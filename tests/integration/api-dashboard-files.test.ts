import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ApiServer } from "../../agent/api/server.js";
import type { ApiContext } from "../../agent/api/context.js";
import { dashboardDir } from "../../agent/api/routes/dashboard.js";
import { REPO } from "../helpers/cli.js";
import { testLogger } from "../helpers/logger.js";

/** Only the static routes are called here, so the rest of the agent is not needed. */
const noAgent = { logger: testLogger() } as ApiContext;

describe("the dashboard's static files over the local API", () => {
  let server: ApiServer;
  let base: string;

  beforeAll(async () => {
    server = new ApiServer({ ...noAgent, host: "127.0.0.1", port: 0, token: "t" });
    await server.start();
    base = `http://127.0.0.1:${server.address()?.port}`;
  });

  afterAll(() => server?.stop());

  it("finds the files in the package's agent/dashboard folder, small and self-contained", () => {
    expect(dashboardDir()).toBe(join(REPO, "agent", "dashboard"));
    const files = readdirSync(dashboardDir()).sort();
    expect(files).toEqual(["app.js", "index.html", "style.css"]);
    const total = files.reduce((n, f) => n + statSync(join(dashboardDir(), f)).size, 0);
    expect(total).toBeLessThan(60 * 1024);
    for (const f of files) {
      const text = readFileSync(join(dashboardDir(), f), "utf8");
      // Works offline: nothing is fetched from another origin.
      expect(text, f).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
      expect(text, f).not.toMatch(/@import\s+url\(["']?https?:/i);
    }
    // A release is the packed package: its "files" must carry the folder, or a gateway serves a 404.
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { files: string[] };
    expect(pkg.files).toContain("agent/dashboard");
    // Strings from the agent never become markup.
    expect(readFileSync(join(dashboardDir(), "app.js"), "utf8")).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it("serves the page on / and /dashboard, and each file with its type, revalidation headers and a CSP", async () => {
    for (const [path, type, file] of [
      ["/", "text/html", "index.html"],
      ["/dashboard", "text/html", "index.html"],
      ["/dashboard/index.html", "text/html", "index.html"],
      ["/dashboard/app.js", "text/javascript", "app.js"],
      ["/dashboard/style.css", "text/css", "style.css"],
    ] as const) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type"), path).toBe(`${type}; charset=utf-8`);
      expect(res.headers.get("cache-control")).toBe("no-cache");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'.*script-src 'self'/);
      expect(await res.text()).toBe(readFileSync(join(dashboardDir(), file), "utf8"));
      // A reload costs a 304 while the file is unchanged.
      const etag = res.headers.get("etag") ?? "";
      expect(etag).toMatch(/^".+"$/);
      const again = await fetch(base + path, { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");
    }
    const head = await fetch(`${base}/dashboard/app.js`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get("content-length"))).toBeGreaterThan(1000);
  });

  it("serves nothing else from the folder or above it", async () => {
    for (const path of ["/dashboard/package.json", "/dashboard/..%2F..%2Fpackage.json", "/dashboard/%2e%2e%2Fapi%2Fserver.ts", "/dashboard/app.js.map", "/dashboard/x/app.js"]) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(404);
      expect(await res.json(), path).toMatchObject({ error: { code: "not_found" } });
    }
    const post = await fetch(`${base}/`, { method: "POST" });
    expect(post.status).toBe(405);
  });
});
