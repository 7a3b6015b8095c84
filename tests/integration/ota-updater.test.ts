import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { generateKey, sign } from "../../agent/ota/keys.js";
import type { OtaOffer, OtaStatus } from "../../agent/ota/messages.js";
import { createRoot, readRootFile, signRoot } from "../../agent/ota/root.js";
import { StateStore, type UpdateRecord } from "../../agent/ota/state.js";
import { Updater, type UpdaterOptions } from "../../agent/ota/updater.js";
import { VersionFloor } from "../../agent/ota/version-floor.js";
import { encodeManifest } from "../../agent/ota/manifest.js";
import { rawTarGz } from "../unit/ota/helpers.js";
import { YEAR, buildRelease, installBase, makeTrust, offerOf, resign, startFileServer, tempDir, type FileServer, type Trust } from "../helpers/ota.js";

/**
 * The updater inside the agent, in-process, against a real HTTP server and real files: every refusal
 * happens before `current` changes, and refusals of the manifest happen before a byte is downloaded.
 */
describe("OTA updater", () => {
  let server: FileServer;
  const work = tempDir("ota-upd-");
  let n = 0;
  beforeAll(async () => {
    server = await startFileServer();
  });
  afterAll(async () => {
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });
  const updaters: Updater[] = [];
  afterEach(() => {
    for (const u of updaters.splice(0)) u.stop();
  });

  interface Rig {
    root: string;
    trust: Trust;
    updater: Updater;
    published: OtaStatus[];
    handovers: UpdateRecord[];
    offer(o: OtaOffer): Promise<void>;
    /** Delivers without waiting for a running update to settle. */
    send(o: OtaOffer): Promise<void>;
    state(): UpdateRecord;
    requestsFor(name: string): number;
  }

  function rig(o: { trust?: Trust; groups?: string[]; options?: Partial<UpdaterOptions>; publishFails?: boolean } = {}): Rig {
    const root = join(work, `root-${++n}`);
    installBase(root, "1.0.0");
    const trust = o.trust ?? makeTrust(join(work, `trust-${n}`));
    const published: OtaStatus[] = [];
    const handovers: UpdateRecord[] = [];
    let handler: ((p: Buffer) => void) | null = null;
    const updater = new Updater({
      installRoot: root,
      deviceId: "gw-1",
      groups: o.groups ?? ["line-3"],
      platform: "linux-x64",
      shippedRoot: trust.root,
      transport: {
        subscribe: (topic, h) => {
          if (topic === "edge/gw-1/ota/offer") handler = h;
        },
        publish: async (_topic, payload) => {
          if (o.publishFails) throw new Error("broker down");
          published.push(JSON.parse(payload.toString()) as OtaStatus);
        },
      },
      download: { retries: 1, backoffMs: 20, stallMs: 2000, minBytesPerSec: 0 },
      unpack: { fsync: false },
      progressIntervalMs: 0,
      handover: (r) => void handovers.push(r),
      ...o.options,
    });
    updaters.push(updater);
    void updater.start();
    return {
      root,
      trust,
      updater,
      published,
      handovers,
      offer: async (offer) => {
        handler?.(Buffer.from(JSON.stringify(offer)));
        await new Promise((r) => setImmediate(r));
        await updater.settled();
        await updater.flushReports();
      },
      send: async (offer) => {
        handler?.(Buffer.from(JSON.stringify(offer)));
        await new Promise((r) => setTimeout(r, 50));
        await updater.flushReports();
      },
      state: () => StateStore.read(join(root, "ota", "state.json")) ?? ({ state: "idle" } as UpdateRecord),
      requestsFor: (name) => server.requests.filter((q) => q.path === name).length,
    };
  }

  const serve = (name: string, archive: Buffer, behaviour?: Parameters<FileServer["put"]>[2]) => {
    server.put(name, archive, behaviour);
    return server.url(name);
  };
  const lastStatus = (r: Rig) => r.published.at(-1);
  const untouched = (r: Rig, version = "2.0.0") => {
    expect(r.updater.layout.currentVersion("agent")).toBe("1.0.0");
    expect(existsSync(join(r.root, "releases", version))).toBe(false);
    expect(readdirSync(join(r.root, "releases")).filter((f) => f.startsWith("."))).toEqual([]);
    expect(existsSync(join(r.root, "ota", "downloads"))).toBe(false);
  };

  it("verified offer: downloads, verifies, unpacks side by side, records switching and hands over", async () => {
    const r = rig();
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    await r.offer(offerOf(rel, serve(`ok-${n}.tar.gz`, rel.archive), { offerId: "o-ok", rolloutId: "ro-1" }));
    expect(r.state()).toMatchObject({ state: "switching", offerId: "o-ok", fromVersion: "1.0.0", release: { version: "2.0.0" } });
    expect(r.handovers).toHaveLength(1);
    expect(existsSync(join(r.root, "releases", "2.0.0", "dist", "agent", "cli", "main.js"))).toBe(true);
    expect(r.updater.layout.currentVersion("agent")).toBe("1.0.0"); // the supervisor switches, not us
    expect(existsSync(join(r.root, "ota", "downloads"))).toBe(false);
    const states = r.published.map((s) => s.state);
    expect(states.filter((s, i) => s !== states[i - 1])).toEqual(["offered", "downloading", "verifying", "installing", "switching"]);
    expect(r.published.find((s) => s.progress)?.progress?.total).toBe(rel.manifest.size);
    expect(lastStatus(r)).toMatchObject({ v: 1, device: "gw-1", offerId: "o-ok", rolloutId: "ro-1", name: "edge-agent", kind: "agent", version: "2.0.0", installedVersion: "1.0.0" });
  });

  it("a tampered payload byte fails at verifying (OTA_SHA256); nothing installed", async () => {
    const r = rig();
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    const bad = Buffer.from(rel.archive);
    bad[bad.length - 20] = bad[bad.length - 20]! ^ 0x01;
    await r.offer(offerOf(rel, serve(`tampered-${n}.tar.gz`, bad)));
    expect(r.state()).toMatchObject({ state: "failed", error: { code: "OTA_SHA256" } });
    expect(lastStatus(r)).toMatchObject({ state: "failed", error: { code: "OTA_SHA256" } });
    untouched(r);
  });

  const refusedBeforeDownload = async (r: Rig, offer: OtaOffer, name: string, code: string) => {
    await r.offer(offer);
    expect(lastStatus(r)).toMatchObject({ state: "refused", offerId: offer.offerId, error: { code } });
    expect(r.requestsFor(name)).toBe(0);
    expect(r.state().state).toBe("idle"); // a refused offer does not touch the update state
    untouched(r);
  };

  it("a tampered manifest is refused before any download (OTA_SIGNATURE)", async () => {
    const r = rig();
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    const forged = Buffer.from(rel.manifestBytes.toString().replace('"groups":[]', '"groups":["line-3"]'));
    const name = `forged-${n}.tar.gz`;
    await refusedBeforeDownload(r, { ...offerOf(rel, serve(name, rel.archive)), manifest: forged.toString("base64") }, name, "OTA_SIGNATURE");
  });

  it("a key the root does not list is refused (OTA_SIGNATURE)", async () => {
    const r = rig();
    const rel = await buildRelease(work, r.trust, { version: "2.0.0", signers: [generateKey("stranger")] });
    const name = `unknown-${n}.tar.gz`;
    await refusedBeforeDownload(r, offerOf(rel, serve(name, rel.archive)), name, "OTA_SIGNATURE");
    expect(lastStatus(r)?.error?.message).toMatch(/does not trust/);
  });

  it("a key revoked by an offered newer root is refused; the new root is persisted and its key accepted", async () => {
    const r = rig({ trust: makeTrust(join(work, "trust-rot"), { releaseKeys: 2 }) });
    const [k0, k1] = r.trust.releaseKeys as [ReturnType<typeof generateKey>, ReturnType<typeof generateKey>];
    const v2 = signRoot(createRoot({ version: 2, expires: new Date(Date.now() + YEAR), rootKeys: [r.trust.rootKey], rootThreshold: 1, releaseKeys: [k1], releaseThreshold: 1 }), r.trust.rootKey);
    const rel = await buildRelease(work, r.trust, { version: "2.0.0", signers: [k0] });
    const name = `revoked-${n}.tar.gz`;
    await refusedBeforeDownload(r, offerOf(rel, serve(name, rel.archive), { roots: [v2] }), name, "OTA_SIGNATURE");
    expect(readRootFile(join(r.root, "ota", "root.json")).signed.version).toBe(2);
    // Even without the root in the next offer, the device now trusts v2 only.
    await r.offer(offerOf(rel, serve(name, rel.archive)));
    expect(lastStatus(r)).toMatchObject({ state: "refused", error: { code: "OTA_SIGNATURE" } });
    const good = resign(rel, {}, [k1]);
    await r.offer(offerOf(good, serve(`rotated-${n}.tar.gz`, good.archive)));
    expect(r.state().state).toBe("switching");
  });

  it("below the threshold, and the same key twice, are refused (OTA_SIGNATURE)", async () => {
    const r = rig({ trust: makeTrust(join(work, "trust-2of2"), { releaseKeys: 2, threshold: 2 }) });
    const k0 = r.trust.releaseKeys[0]!;
    const rel = await buildRelease(work, r.trust, { version: "2.0.0", signers: [k0] });
    const name = `threshold-${n}.tar.gz`;
    await refusedBeforeDownload(r, offerOf(rel, serve(name, rel.archive)), name, "OTA_SIGNATURE");
    const twice = { ...rel, signatures: [sign(rel.manifestBytes, k0), sign(rel.manifestBytes, k0)] };
    await refusedBeforeDownload(r, offerOf(twice, serve(name, rel.archive)), name, "OTA_SIGNATURE");
    expect(lastStatus(r)?.error?.message).toMatch(/1 valid signature\(s\).*2 required/);
  });

  it("a downgrade, a replayed older manifest below the committed floor, and an expired one are refused", async () => {
    const r = rig();
    const old = await buildRelease(work, r.trust, { version: "0.9.0" });
    await refusedBeforeDownload(r, offerOf(old, serve(`down-${n}.tar.gz`, old.archive)), `down-${n}.tar.gz`, "OTA_NOT_NEWER");
    // The device once committed 1.5.0 (then was rolled back by hand to 1.0.0): 1.2.0, validly signed, is a replay.
    VersionFloor.open(join(r.root, "ota", "floor.json")).commit("agent", "1.5.0");
    const replay = await buildRelease(work, r.trust, { version: "1.2.0" });
    await refusedBeforeDownload(r, offerOf(replay, serve(`replay-${n}.tar.gz`, replay.archive)), `replay-${n}.tar.gz`, "OTA_ROLLBACK");
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    const expired = resign(rel, { expires: new Date(Date.now() - 1000).toISOString() }, [r.trust.releaseKeys[0]!]);
    await refusedBeforeDownload(r, offerOf(expired, serve(`exp-${n}.tar.gz`, expired.archive)), `exp-${n}.tar.gz`, "OTA_EXPIRED");
  });

  it("another group's, another platform's or another product's release is refused", async () => {
    const r = rig({ groups: ["line-3"] });
    // Validly signed by the same vendor key, but for another product.
    const pump = await buildRelease(work, r.trust, { version: "2.0.0", name: "pump-controller" });
    await refusedBeforeDownload(r, offerOf(pump, serve(`pump-${n}.tar.gz`, pump.archive)), `pump-${n}.tar.gz`, "OTA_PRODUCT");
    const other = await buildRelease(work, r.trust, { version: "2.0.0", groups: ["line-9"] });
    await refusedBeforeDownload(r, offerOf(other, serve(`grp-${n}.tar.gz`, other.archive)), `grp-${n}.tar.gz`, "OTA_GROUP");
    const arm = await buildRelease(work, r.trust, { version: "2.0.0", platform: "linux-arm64" });
    await refusedBeforeDownload(r, offerOf(arm, serve(`arm-${n}.tar.gz`, arm.archive)), `arm-${n}.tar.gz`, "OTA_PLATFORM");
  });

  it("a server sending more than the signed size fails the update (OTA_SIZE)", async () => {
    const r = rig();
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    await r.offer(offerOf(rel, serve(`endless-${n}.tar.gz`, rel.archive, "endless")));
    expect(r.state()).toMatchObject({ state: "failed", error: { code: "OTA_SIZE" } });
    untouched(r);
  });

  it("a signed archive with a path escape fails at installing; nothing outside or half-installed", async () => {
    const r = rig();
    const archive = rawTarGz([{ name: "dist/ok.js", data: "x" }, { name: "../../escaped.txt", data: "pwned" }]);
    const base = await buildRelease(work, r.trust, { version: "2.0.0" });
    const { createHash } = await import("node:crypto");
    const rel = resign({ ...base, archive }, { size: archive.length, sha256: createHash("sha256").update(archive).digest("hex") }, [r.trust.releaseKeys[0]!]);
    await r.offer(offerOf(rel, serve(`escape-${n}.tar.gz`, archive)));
    expect(r.state()).toMatchObject({ state: "failed", error: { code: "OTA_ARCHIVE_PATH" } });
    expect(existsSync(join(r.root, "..", "escaped.txt"))).toBe(false);
    expect(existsSync(join(r.root, "escaped.txt"))).toBe(false);
    untouched(r);
  });

  it("a full disk while downloading fails clearly (OTA_DISK) and leaves nothing behind", async () => {
    const r = rig({
      options: {
        download: {
          retries: 0,
          minBytesPerSec: 0,
          openFile: async () => ({
            write: async () => {
              throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
            },
            sync: async () => undefined,
            close: async () => undefined,
          }),
        },
      },
    });
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    await r.offer(offerOf(rel, serve(`disk-${n}.tar.gz`, rel.archive)));
    expect(r.state()).toMatchObject({ state: "failed", error: { code: "OTA_DISK" } });
    expect(r.state().error?.message).toMatch(/ENOSPC/);
    untouched(r);
  });

  it("two offers at once: the second is refused (OTA_BUSY) and only reported; the first installs", async () => {
    // The first update is held at "downloading" until the second offer has been answered.
    let release = () => {};
    const gate = new Promise<void>((res) => (release = res));
    let atDownloading = () => {};
    const reached = new Promise<void>((res) => (atDownloading = res));
    const r = rig({
      options: {
        onState: async (rec) => {
          if (rec.state !== "downloading") return;
          atDownloading();
          await gate;
        },
      },
    });
    const a = await buildRelease(work, r.trust, { version: "2.0.0" });
    const b = await buildRelease(work, r.trust, { version: "3.0.0" });
    const first = r.offer(offerOf(a, serve(`a-${n}.tar.gz`, a.archive), { offerId: "first" }));
    await reached;
    await r.send(offerOf(b, serve(`b-${n}.tar.gz`, b.archive), { offerId: "second" }));
    expect(r.published.find((s) => s.offerId === "second")).toMatchObject({ state: "refused", error: { code: "OTA_BUSY" }, version: "3.0.0" });
    expect(r.requestsFor(`b-${n}.tar.gz`)).toBe(0);
    release();
    await first;
    await r.updater.settled();
    expect(r.state()).toMatchObject({ state: "switching", offerId: "first", release: { version: "2.0.0" } });
  });

  it("the same offer twice installs once; an offer for the installed version is a no-op", async () => {
    const r = rig();
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    const offer = offerOf(rel, serve(`twice-${n}.tar.gz`, rel.archive), { offerId: "dup" });
    await r.offer(offer);
    const seq = r.state().seq;
    await r.offer(offer);
    expect(r.requestsFor(`twice-${n}.tar.gz`)).toBe(1);
    expect(r.handovers).toHaveLength(1);
    expect(r.state().seq).toBe(seq);

    const r2 = rig();
    const same = await buildRelease(work, r2.trust, { version: "1.0.0" });
    await r2.offer(offerOf(same, serve(`same-${n}.tar.gz`, same.archive), { offerId: "same" }));
    expect(r2.requestsFor(`same-${n}.tar.gz`)).toBe(0);
    expect(r2.state().state).toBe("idle");
    expect(lastStatus(r2)).toMatchObject({ offerId: "same", state: "committed", installedVersion: "1.0.0" });
  });

  it("an invalid offer is refused with its reason; a broken manifest too", async () => {
    const r = rig();
    await r.offer({ v: 1, offerId: "bad", url: "ftp://x" } as unknown as OtaOffer);
    expect(lastStatus(r)).toMatchObject({ offerId: "bad", state: "refused", error: { code: "OTA_OFFER_INVALID" } });
    const junk = encodeManifest({ type: "release", name: "x", kind: "agent", version: "9.0.0", platform: "any", size: 1, sha256: "0".repeat(64), created: new Date().toISOString(), expires: new Date(Date.now() + YEAR).toISOString(), minVersion: null, groups: [] });
    await r.offer({ v: 1, offerId: "junk", manifest: junk.toString("base64"), signatures: [{ keyid: "nope", sig: "A".repeat(86) + "==" }], url: "http://127.0.0.1:1/x.tar.gz" });
    expect(lastStatus(r)).toMatchObject({ offerId: "junk", state: "refused", version: "9.0.0", error: { code: "OTA_SIGNATURE" } });
    // Refusals are answered over the link, never written to the flash (forged offers cannot wear it out).
    const outbox = join(r.root, "ota", "outbox");
    expect(existsSync(outbox) ? readdirSync(outbox) : []).toEqual([]);
  });

  it("a status that cannot be published stays queued and never stops the update", async () => {
    const r = rig({ publishFails: true });
    const rel = await buildRelease(work, r.trust, { version: "2.0.0" });
    await r.offer(offerOf(rel, serve(`q-${n}.tar.gz`, rel.archive)));
    expect(r.state().state).toBe("switching");
    const queued = readdirSync(join(r.root, "ota", "outbox"));
    expect(queued.length).toBeGreaterThanOrEqual(5);
    const first = JSON.parse(readFileSync(join(r.root, "ota", "outbox", queued[0]!), "utf8")) as { status: OtaStatus };
    expect(first.status.state).toBe("offered");
  });
});
