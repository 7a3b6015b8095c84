import { afterEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import { MqttUplink } from "../../edge/uplink/mqtt-uplink.js";
import { findMosquitto, startMosquitto, type MosquittoBroker } from "../../simulators/broker/mosquitto.js";
import { waitFor } from "../helpers/ports.js";
import { uplinkOptions } from "../helpers/uplink.js";

/** A broker that only lets known users in (password file made with mosquitto_passwd, as an admin would). */
describe("username and password against Mosquitto", () => {
  let broker: MosquittoBroker | undefined;
  let dir: string;
  const open: Array<{ uplink: MqttUplink; outbox: SqliteOutbox }> = [];
  afterEach(async () => {
    for (const { uplink, outbox } of open.splice(0)) {
      await uplink.stop(100);
      outbox.close();
    }
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function uplink(name: string, username: string | undefined, password: string | undefined): MqttUplink {
    const outbox = new SqliteOutbox({ path: join(dir, `${name}.db`), maxRows: 1000, maxAgeMs: 0, synchronous: "normal" });
    const u = new MqttUplink(uplinkOptions(broker?.url ?? "", name, outbox, { username, password }));
    open.push({ uplink: u, outbox });
    u.start();
    outbox.append("telemetry", [{ ts: 1, json: '{"point":"p","ts":1,"value":1,"quality":"good"}' }]);
    u.kick();
    return u;
  }

  it("connects and delivers with the right credentials; with wrong or no credentials it is refused and keeps the data", async () => {
    const bin = findMosquitto();
    if (!bin) throw new Error("mosquitto is not installed (apt-get install mosquitto)");
    dir = mkdtempSync(join(tmpdir(), "edge-auth-"));
    const passwords = join(dir, "passwords");
    execFileSync("mosquitto_passwd", ["-b", "-c", passwords, "gateway", "s3cret"]);
    // Mosquitto drops to its own user and must still read the file.
    chmodSync(dir, 0o755);
    chmodSync(passwords, 0o644);
    broker = await startMosquitto({ bin, extraConfig: ["allow_anonymous false", `password_file ${passwords}`] });

    const good = uplink("good", "gateway", "s3cret");
    const wrong = uplink("wrong", "gateway", "guess");
    const anonymous = uplink("anon", undefined, undefined);
    await waitFor("the good gateway delivered", () => (good.status().connected && open[0]?.outbox.stats().pending === 0 ? true : undefined));
    await waitFor("the refusals", () => (wrong.status().lastError && anonymous.status().lastError ? true : undefined));
    expect(wrong.status()).toMatchObject({ connected: false });
    expect(wrong.status().lastError).toMatch(/not authorized|bad user name or password/i);
    expect(anonymous.status().connected).toBe(false);
    // Refused gateways keep what they stored.
    expect(open[1]?.outbox.stats().pending).toBe(1);
    expect(open[2]?.outbox.stats().pending).toBe(1);
  });
});
