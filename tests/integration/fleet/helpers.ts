import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mqtt, { type MqttClient } from "mqtt";
import { createRoot, decodeManifest, encodeRootFile, encodeSignatureFile, generateKey, packRelease, sign, signRoot, verifySignature, type PrivateKey } from "../../../agent/ota/index.js";
import { otaOfferSchema, type OtaOffer, type OtaState } from "../../../simulators/fleet/messages.js";

export interface TestReleases {
  dir: string;
  releaseKey: PrivateKey;
  /** root.json bytes, base64, for offers that ship a root. */
  rootB64: string;
}

/** A folder with real signed releases, built with the OTA library exactly as an operator would. */
export async function buildReleases(versions: string[], opts: { payloadBytes?: number } = {}): Promise<TestReleases> {
  const dir = mkdtempSync(join(tmpdir(), "fleet-releases-"));
  const rootKey = generateKey("root");
  const releaseKey = generateKey("release");
  let root = createRoot({ version: 1, expires: new Date(Date.now() + 86_400_000 * 365), rootKeys: [rootKey], rootThreshold: 1, releaseKeys: [releaseKey], releaseThreshold: 1 });
  root = signRoot(root, rootKey);
  for (const version of versions) {
    const src = join(dir, `.src-${version}`);
    mkdirSync(join(src, "bin"), { recursive: true });
    writeFileSync(join(src, "bin", "agent.js"), `console.log("edge-agent ${version}")\n`);
    // Incompressible bytes so the archive is large enough for Range and fault tests to bite.
    const filler = Buffer.alloc(opts.payloadBytes ?? 200_000);
    for (let i = 0; i < filler.length; i += 32) createHash("sha256").update(`${version}:${i}`).digest().copy(filler, i);
    writeFileSync(join(src, "blob.bin"), filler);
    const out = join(dir, `edge-agent-${version}.tar.gz`);
    const packed = await packRelease({ dir: src, out, name: "edge-agent", kind: "agent", version, platform: "any", created: new Date(), expires: new Date(Date.now() + 86_400_000 * 30), minVersion: null, groups: [] });
    // The signed bytes are the manifest file's exact bytes: read back, never re-encoded.
    const manifestBytes = readFileSync(packed.manifestFile);
    writeFileSync(join(dir, `edge-agent-${version}.manifest.json.sig`), encodeSignatureFile([sign(manifestBytes, releaseKey)]));
  }
  return { dir, releaseKey, rootB64: Buffer.from(encodeRootFile(root)).toString("base64") };
}


export type Behaviour = "commit" | "rollback" | "fail" | "silent" | "refuse";

export interface SimulatedDevice {
  readonly id: string;
  readonly client: MqttClient;
  readonly offers: OtaOffer[];
  /** Statuses this device published (each one once). */
  sent: number;
  behaviour: Behaviour;
  /** Whether each offer's manifest signature checked out and the download matched its sha256. */
  readonly checks: { offerId: string; signatureOk: boolean; downloadOk: boolean }[];
  stop(): Promise<void>;
}

const SEQUENCES: Record<Behaviour, OtaState[]> = {
  commit: ["offered", "downloading", "verifying", "installing", "switching", "testing", "committed"],
  rollback: ["offered", "downloading", "verifying", "installing", "switching", "testing", "rolled_back"],
  fail: ["offered", "downloading", "failed"],
  refuse: ["refused"],
  silent: [],
};

/**
 * A gateway played by the test: its own mqtt.js client, retained online state with an offline will,
 * and on each offer the signature check and the download a real updater does, then the status
 * sequence its behaviour names. It shares no code with the fleet server beyond the OTA library.
 */
export async function startDevice(brokerUrl: string, id: string, behaviour: Behaviour, releaseKey: PrivateKey, opts: { protocolVersion?: 4 | 5 } = {}): Promise<SimulatedDevice> {
  const client = await mqtt.connectAsync(brokerUrl, {
    clientId: `test-${id}`,
    protocolVersion: opts.protocolVersion ?? 5,
    reconnectPeriod: 0,
    will: { topic: `edge/${id}/state`, payload: Buffer.from("offline"), qos: 1, retain: true },
  });
  const device: SimulatedDevice = {
    id,
    client,
    offers: [],
    sent: 0,
    behaviour,
    checks: [],
    stop: async () => {
      await client.publishAsync(`edge/${id}/state`, "offline", { qos: 1, retain: true });
      await client.endAsync();
    },
  };
  let installed = "1.0.0";
  const publish = async (offer: OtaOffer, name: string, version: string, state: OtaState, extra: Record<string, unknown> = {}) => {
    const status = { v: 1, device: id, offerId: offer.offerId, ...(offer.rolloutId ? { rolloutId: offer.rolloutId } : {}), name, kind: "agent", version, state, installedVersion: installed, ts: Date.now(), ...extra };
    await client.publishAsync(`edge/${id}/ota/status`, JSON.stringify(status), { qos: 1 });
    device.sent++;
  };
  const handle = async (offer: OtaOffer) => {
    const manifestBytes = Buffer.from(offer.manifest, "base64");
    const signatureOk = offer.signatures.some((s) => s.keyid === releaseKey.keyid && verifySignature(manifestBytes, s.sig, releaseKey.publicKey));
    const manifest = decodeManifest(manifestBytes);
    let downloadOk = false;
    if (device.behaviour !== "silent" && device.behaviour !== "refuse") {
      const res = await fetch(offer.url);
      const body = Buffer.from(await res.arrayBuffer());
      downloadOk = res.status === 200 && body.length === manifest.size && createHash("sha256").update(body).digest("hex") === manifest.sha256;
    }
    device.checks.push({ offerId: offer.offerId, signatureOk, downloadOk });
    for (const state of SEQUENCES[device.behaviour]) {
      const extra: Record<string, unknown> = state === "downloading" ? { progress: { bytes: manifest.size, total: manifest.size } } : {};
      if (state === "failed" || state === "rolled_back") extra.error = { code: state === "failed" ? "OTA_SHA256" : "OTA_HEALTH", message: "simulated" };
      if (state === "committed") installed = manifest.version;
      await publish(offer, manifest.name, manifest.version, state, extra);
    }
  };
  client.on("message", (_topic, payload) => {
    const offer = otaOfferSchema.parse(JSON.parse(payload.toString("utf8"))) as OtaOffer;
    device.offers.push(offer);
    handle(offer).catch((err: unknown) => device.checks.push({ offerId: `error: ${(err as Error).message}`, signatureOk: false, downloadOk: false }));
  });
  await client.subscribeAsync(`edge/${id}/ota/offer`, { qos: 1 });
  await client.publishAsync(`edge/${id}/state`, "online", { qos: 1, retain: true });
  return device;
}

/** JSON over HTTP to the fleet API. */
export async function api<T = unknown>(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}) });
  const text = await res.text();
  return { status: res.status, body: (text === "" ? undefined : JSON.parse(text)) as T };
}
