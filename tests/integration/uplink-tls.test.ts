import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt from "mqtt";
import { SqliteOutbox } from "../../edge/store/sqlite-outbox.js";
import { MqttUplink } from "../../edge/uplink/mqtt-uplink.js";
import { findMosquitto, startMosquitto, type MosquittoBroker } from "../../simulators/broker/mosquitto.js";
import { waitFor } from "../helpers/ports.js";
import { uplinkOptions } from "../helpers/uplink.js";

/** Certificates made for this test only: a CA, a broker certificate for 127.0.0.1 and a client certificate. */
function makePki(dir: string, name: string): void {
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-ca.key`, "-out", `${name}-ca.pem`, "-days", "2", "-subj", `/CN=${name}-ca`);
  writeFileSync(join(dir, "san.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  for (const who of ["server", "client"]) {
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}-${who}.key`, "-out", `${name}-${who}.csr`, "-subj", `/CN=${who === "server" ? "127.0.0.1" : "gw-1"}`);
    ssl("x509", "-req", "-in", `${name}-${who}.csr`, "-CA", `${name}-ca.pem`, "-CAkey", `${name}-ca.key`, "-CAcreateserial", "-out", `${name}-${who}.pem`, "-days", "2", ...(who === "server" ? ["-extfile", "san.cnf"] : []));
  }
}

describe("MQTT uplink over TLS and mutual TLS (Mosquitto with test certificates)", () => {
  let dir: string;
  let broker: MosquittoBroker;
  const pem = (f: string) => readFileSync(join(dir, f));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "edge-tls-"));
    makePki(dir, "good");
    makePki(dir, "other");
    // Mosquitto started as root drops to its own user, which must be able to read the broker's files.
    chmodSync(dir, 0o755);
    for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
    const bin = findMosquitto();
    if (!bin) throw new Error("mosquitto is not installed: .ci/run installs it");
    broker = await startMosquitto({
      bin,
      extraConfig: [`cafile ${join(dir, "good-ca.pem")}`, `certfile ${join(dir, "good-server.pem")}`, `keyfile ${join(dir, "good-server.key")}`, "require_certificate true"],
    });
  }, 60_000);

  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function uplink(tls: { ca?: Buffer; cert?: Buffer; key?: Buffer }, n: number) {
    const outbox = new SqliteOutbox({ path: join(dir, `edge-${n}.db`), maxRows: 1000, maxAgeMs: 0, synchronous: "normal" });
    const u = new MqttUplink(uplinkOptions(`mqtts://127.0.0.1:${broker.port}`, `tls-gw-${n}`, outbox, { tls: { ...tls, rejectUnauthorized: true } }));
    return { u, outbox };
  }

  it("publishes over mutual TLS and deletes rows once the broker acknowledged them", async () => {
    const observer = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.port}`, { ca: pem("good-ca.pem"), cert: pem("good-client.pem"), key: pem("good-client.key"), clientId: "tls-observer" });
    const got: string[] = [];
    observer.on("message", (_t, p) => got.push(p.toString()));
    await observer.subscribeAsync("edge/tls-gw-1/telemetry", { qos: 1 });
    const { u, outbox } = uplink({ ca: pem("good-ca.pem"), cert: pem("good-client.pem"), key: pem("good-client.key") }, 1);
    u.start();
    await waitFor("connected over TLS", () => (u.status().connected ? true : undefined));
    outbox.append("telemetry", [{ ts: 1, json: '{"point":"t","ts":1,"value":21.5,"quality":"good"}' }]);
    u.kick();
    await waitFor("the sample at the observer", () => (got.length > 0 ? true : undefined));
    expect(JSON.parse(got[0] ?? "{}")).toMatchObject({ device: "tls-gw-1", samples: [{ seq: 1, point: "t", value: 21.5 }] });
    await waitFor("acknowledged", () => (outbox.stats().pending === 0 ? true : undefined));
    await u.stop(200);
    outbox.close();
    await observer.endAsync(true);
  });

  it("refuses a broker whose certificate another CA signed, and keeps the data", async () => {
    const { u, outbox } = uplink({ ca: pem("other-ca.pem"), cert: pem("good-client.pem"), key: pem("good-client.key") }, 2);
    outbox.append("telemetry", [{ ts: 1, json: '{"point":"t"}' }]);
    u.start();
    await waitFor("a certificate error", () => (/certificate|self.signed|verify/i.test(u.status().lastError ?? "") ? true : undefined), 10_000);
    expect(u.status().connected).toBe(false);
    expect(outbox.stats().pending).toBe(1);
    await u.stop(0);
    outbox.close();
  });

  it("is refused by a broker that requires a client certificate when it has none", async () => {
    const { u, outbox } = uplink({ ca: pem("good-ca.pem") }, 3);
    u.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(u.status().connected).toBe(false);
    await u.stop(0);
    outbox.close();
  });
});
