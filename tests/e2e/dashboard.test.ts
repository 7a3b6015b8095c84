import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { CliProcess, REPO, parseReadyLine } from "../helpers/cli.js";
import { apiOf } from "../helpers/plant.js";
import { waitFor } from "../helpers/ports.js";

/** Debian's Chromium (CI installs the `chromium` package); a browser is never downloaded. */
const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(REPO, "tests", ".artifacts");

interface AlarmJson {
  id: number;
  rule: string;
  state: string;
  ackBy: string | null;
}

describe("the local dashboard in a real browser, against `edge-agent sim`", () => {
  let sim: CliProcess;
  let dataDir: string;
  let api: string;
  let token: string;
  let browser: Browser | undefined;
  let page: Page;
  let alarm: AlarmJson;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)`).toBe(true);
    dataDir = mkdtempSync(join(tmpdir(), "edge-dashboard-e2e-"));
    sim = new CliProcess(["sim", "--mqtt-port", "0", "--api-port", "0", "--modbus-port", "0", "--opcua-port", "0", "--data-dir", dataDir]);
    api = parseReadyLine(await sim.waitForLine(/^ready .*api=/, 30_000)).api ?? "";
    token = readFileSync(join(dataDir, "sim", "api-token"), "utf8").trim();
    const client = apiOf(api, token);
    // The example config has no rules: add one through the API that is true at once (the oven runs at 20..80 °C).
    expect(await client.get("/rules")).toMatchObject({ status: 200, body: [] });
    const created = await client.post("/rules", {
      id: "oven-warm",
      description: "oven above 0 °C (dashboard test)",
      when: "plc1.temperature > 0",
      actions: [{ type: "alarm", severity: "major", message: "oven at {round(plc1.temperature, 1)} °C" }],
    });
    expect(created.status).toBe(201);
    alarm = await waitFor("the alarm raised", async () => {
      const open = (await client.get("/alarms")).body as unknown as AlarmJson[];
      return open.find((a) => a.rule === "oven-warm" && a.state === "active");
    }, 15_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (sim && sim.child.exitCode === null) await sim.stop("SIGINT");
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  it("shows live values with sparklines, devices, the rule and the active alarm; acknowledges it with the token", async () => {
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(`${api}/`);
    await expect.poll(() => page.locator("#link").textContent(), { timeout: 10_000 }).toBe("live");
    // Without a token the page says it is read-only.
    await expect.poll(() => page.locator("#token-state").textContent()).toBe("no token: read-only");

    // Live values move: the parts counter ticks up with the simulated PLC.
    const counter = page.locator('tr[data-point="plc1.counter"] .value');
    await expect.poll(async () => Number(await counter.textContent()), { timeout: 10_000 }).toBeGreaterThan(0);
    const first = Number(await counter.textContent());
    await expect.poll(async () => Number(await counter.textContent()), { timeout: 10_000 }).toBeGreaterThan(first);
    expect(await page.locator('tr[data-point="plc1.counter"] .quality').textContent()).toBe("good");
    // Its sparkline has been drawn from the samples kept in the page.
    await expect.poll(async () => ((await page.locator('tr[data-point="plc1.counter"] polyline').getAttribute("points")) ?? "").split(" ").length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    // The uint64 energy meter stays an exact decimal string.
    expect(await page.locator('tr[data-point="plc1.energy"] .value').textContent()).toMatch(/^\d{16,}$/);

    await expect.poll(() => page.locator("#devices tr").allTextContents(), { timeout: 10_000 }).toEqual([expect.stringMatching(/^plc1.*modbus-tcp.*connected/), expect.stringMatching(/^line1.*opcua.*connected/)]);
    expect(await page.locator('tr[data-rule-id="oven-warm"]').textContent()).toContain("active");

    const row = page.locator(`tr[data-alarm-id="${alarm.id}"]`);
    await expect.poll(() => row.locator(".alarm-state").textContent(), { timeout: 5000 }).toBe("active");
    expect(await row.textContent()).toMatch(/major.*oven-warm.*oven at \d+(\.\d)? °C/);

    // A wrong token: the agent answers 401, the page says so and nothing changes.
    await page.fill("#token", "not-the-token");
    await page.click("#token-form button");
    await row.getByRole("button", { name: "Acknowledge" }).click();
    await expect.poll(() => page.locator("#message").textContent(), { timeout: 5000 }).toMatch(/refused the token \(401/);
    expect(await page.locator("#message").isVisible()).toBe(true);
    expect(((await apiOf(api, null).get("/alarms")).body as unknown as AlarmJson[]).find((a) => a.id === alarm.id)?.state).toBe("active");

    // The right token: acknowledged in the page and in the API.
    await page.fill("#token", token);
    await page.click("#token-form button");
    expect(await page.locator("#token-state").textContent()).toBe("token set: changes allowed");
    expect(await page.locator("#message").isVisible()).toBe(false);
    await row.getByRole("button", { name: "Acknowledge" }).click();
    // The state word, and who acknowledged it.
    await expect.poll(() => row.locator(".alarm-state").textContent(), { timeout: 5000 }).toBe("acknowledged (api)");
    expect(await row.getByRole("button", { name: "Acknowledge" }).isVisible()).toBe(false);
    const after = ((await apiOf(api, null).get("/alarms")).body as unknown as AlarmJson[]).find((a) => a.id === alarm.id);
    expect(after).toMatchObject({ state: "acknowledged", ackBy: "api" });

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it("disables and enables a rule from its toggle", async () => {
    const toggle = page.locator('tr[data-rule-id="oven-warm"] button.toggle');
    await expect.poll(() => toggle.textContent()).toBe("Disable");
    await toggle.click();
    await expect.poll(() => toggle.textContent(), { timeout: 5000 }).toBe("Enable");
    expect(((await apiOf(api, null).get("/rules/oven-warm")).body as { enabled?: boolean }).enabled).toBe(false);
    await toggle.click();
    await expect.poll(() => toggle.textContent(), { timeout: 5000 }).toBe("Disable");
    expect(((await apiOf(api, null).get("/rules/oven-warm")).body as { enabled?: boolean }).enabled).toBe(true);
  }, 30_000);
});
