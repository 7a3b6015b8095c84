/**
 * Fleet server simulator: holds signed releases, serves them over HTTP (Range, download faults),
 * offers them to gateways over MQTT in staged rollouts, follows their status and halts a bad rollout;
 * plus zero-touch provisioning with one-time claim tokens. See README.md in this folder.
 *
 *   const fleet = await startFleetServer({ mqttUrl, releasesDir, port: 0 });
 *   await fetch(`${fleet.url}/rollouts`, { method: "POST", body: JSON.stringify(spec) });
 *   await fleet.stop();
 */
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { pino } from "pino";
import { EdgeError } from "../../edge/errors.js";
import { createApiServer } from "./api.js";
import { DownloadFaults } from "./faults.js";
import type { FileServeStats } from "./files.js";
import { FleetCore } from "./fleet.js";
import { connectFleetMqtt, type FleetMqtt } from "./mqtt-link.js";
import { Provisioner, type ClaimToken } from "./provision.js";
import { ReleaseStore } from "./store.js";

export { FleetCore, FleetApiError, type FleetStats } from "./fleet.js";
export { Provisioner, ProvisionError, proofMessage, type ClaimToken, type ProvisionResult, type ProvisionedDevice } from "./provision.js";
export { ReleaseStore, type Release } from "./store.js";
export { DownloadFaults, downloadFaultSchema, type DownloadFault } from "./faults.js";
export { planStages, bucketOf, type StageSpec, type PlannedStage, type StagePlan } from "./plan.js";
export { normalizeThreshold, exceedsThreshold, type FailureThreshold } from "./threshold.js";
export { parseRange, type RangeResult } from "./range.js";
export { renderTable } from "./table.js";
export { rolloutSpecSchema, type RolloutSpec } from "./rollout-spec.js";
export type { RolloutView, RolloutState, DeviceRolloutState, RolloutDevice } from "./rollout.js";
export type { DeviceView } from "./devices.js";
export * from "./messages.js";

export interface FleetServerOptions {
  /** Broker URL, e.g. mqtt://127.0.0.1:1883. */
  mqttUrl: string;
  /** 5 (default) or 4 (MQTT 3.1.1). */
  mqttVersion?: 4 | 5;
  mqttUsername?: string;
  mqttPassword?: string;
  /** Share the status subscription with other fleet instances ($share/NAME/edge/+/ota/status). */
  shareGroup?: string;
  releasesDir: string;
  /** HTTP bind address, default 127.0.0.1. */
  host?: string;
  /** HTTP port, default 0 (any free port). */
  port?: number;
  /** Base URL devices download from when it differs from http://host:port (a proxy, a NAT). */
  publicUrl?: string;
  claimTokens?: ClaimToken[];
  claimTokenFile?: string;
  /** Provisioning requires a signature over a server nonce (provision.ts). */
  requireProof?: boolean;
  /** Broker URL handed to provisioned devices; default mqttUrl. */
  provisionMqttUrl?: string;
  clock?: () => number;
  logger?: Logger;
  /** Called (synchronously) when a device or rollout changed. */
  onChange?: () => void;
}

export interface FleetServer {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  readonly mqttUrl: string;
  readonly statusFilter: string;
  readonly core: FleetCore;
  readonly faults: DownloadFaults;
  readonly provisioner: Provisioner;
  stop(): Promise<void>;
}

export async function startFleetServer(o: FleetServerOptions): Promise<FleetServer> {
  const logger = o.logger ?? pino({ level: "silent" });
  const host = o.host ?? "127.0.0.1";
  const store = new ReleaseStore(o.releasesDir);
  const faults = new DownloadFaults();
  const downloads: FileServeStats = { requests: 0, bytes: 0 };
  const abort = new AbortController();
  let baseUrl = o.publicUrl?.replace(/\/+$/, "") ?? "";
  let link: FleetMqtt | undefined;
  const core = new FleetCore({
    store,
    logger,
    baseUrl: () => baseUrl,
    publish: (topic, payload) => {
      if (link === undefined) return Promise.reject(new Error("not connected to the broker yet"));
      return link.publish(topic, payload);
    },
    ...(o.clock !== undefined ? { clock: o.clock } : {}),
    ...(o.onChange !== undefined ? { onChange: o.onChange } : {}),
  });
  const provisioner = new Provisioner({
    mqttUrl: o.provisionMqttUrl ?? o.mqttUrl,
    requireProof: o.requireProof === true,
    ...(o.clock !== undefined ? { clock: o.clock } : {}),
    onProvisioned: (d) => {
      core.registry.setGroup(d.deviceId, d.group);
      logger.info({ deviceId: d.deviceId, group: d.group }, "device provisioned");
      o.onChange?.();
    },
  });
  if (o.claimTokens !== undefined) provisioner.addTokens(o.claimTokens);
  if (o.claimTokenFile !== undefined) provisioner.loadTokenFile(o.claimTokenFile);

  const server = createApiServer({ core, store, faults, provisioner, downloads, mqttConnected: () => link?.connected() ?? false, logger, signal: abort.signal });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(new EdgeError("FLEET_LISTEN", `fleet server cannot listen on ${host}:${o.port ?? 0}: ${err.message}`, { cause: err }));
    server.once("error", onError);
    server.listen(o.port ?? 0, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  if (baseUrl === "") baseUrl = url;
  const closeHttp = () =>
    new Promise<void>((resolve) => {
      abort.abort(); // ends stalled and trickled downloads
      server.close(() => resolve());
      server.closeAllConnections();
    });
  try {
    link = await connectFleetMqtt({
      url: o.mqttUrl,
      protocolVersion: o.mqttVersion ?? 5,
      logger,
      onMessage: (topic, payload) => core.handleMessage(topic, payload),
      ...(o.shareGroup !== undefined ? { shareGroup: o.shareGroup } : {}),
      ...(o.mqttUsername !== undefined ? { username: o.mqttUsername } : {}),
      ...(o.mqttPassword !== undefined ? { password: o.mqttPassword } : {}),
    });
  } catch (err) {
    await closeHttp();
    throw err;
  }
  logger.info({ url, releases: store.dir, statusFilter: link.statusFilter }, "fleet server ready");
  let stopping: Promise<void> | undefined;
  const connected = link;
  return {
    url,
    port,
    mqttUrl: o.mqttUrl,
    statusFilter: connected.statusFilter,
    core,
    faults,
    provisioner,
    stop: () => {
      stopping ??= (async () => {
        core.stop();
        await Promise.all([connected.close(), closeHttp()]);
      })();
      return stopping;
    },
  };
}
