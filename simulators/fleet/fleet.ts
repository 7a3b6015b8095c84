/**
 * The fleet's state and decisions, without sockets: devices, rollouts, offers, status intake. The
 * HTTP API (api.ts) and the MQTT link (mqtt-link.ts) are thin shells around it.
 */
import type { Logger } from "pino";
import { EdgeError } from "../../edge/errors.js";
import { DeviceRegistry, type DeviceView } from "./devices.js";
import { deviceOfTopic, groupOfferTopic, offerTopic, parseDeviceState, parseStatus, type OtaOffer } from "./messages.js";
import { planStages } from "./plan.js";
import { Rollout, newId, type RolloutView } from "./rollout.js";
import { rolloutSpecSchema } from "./rollout-spec.js";
import type { Release, ReleaseStore } from "./store.js";
import { normalizeThreshold } from "./threshold.js";

/** A refusal the API turns into an HTTP status with `{error}`. */
export class FleetApiError extends EdgeError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super("FLEET_API", message);
  }
}

export interface FleetStats {
  status: { received: number; accepted: number; malformed: number; unmatched: number };
  states: number;
  offers: { published: number; failed: number };
}

export interface FleetCoreOptions {
  store: ReleaseStore;
  logger: Logger;
  publish(topic: string, payload: string): Promise<void>;
  /** http://host:port the devices download from (offer URLs are built on it). */
  baseUrl(): string;
  clock?: () => number;
  setTimer?: (ms: number, fn: () => void) => () => void;
  /** Something a person would want to see changed (device state, rollout state). */
  onChange?: () => void;
}

const defaultTimer = (ms: number, fn: () => void): (() => void) => {
  const t = setTimeout(fn, ms);
  return () => clearTimeout(t);
};

function formatIssues(err: { issues: { path: PropertyKey[]; message: string }[] }): string {
  return err.issues.map((i) => `${i.path.map(String).join(".") || "(top)"}: ${i.message}`).join("; ");
}

export class FleetCore {
  readonly registry: DeviceRegistry;
  private readonly rollouts = new Map<string, Rollout>();
  readonly stats: FleetStats = { status: { received: 0, accepted: 0, malformed: 0, unmatched: 0 }, states: 0, offers: { published: 0, failed: 0 } };
  private readonly clock: () => number;
  private readonly logger: Logger;

  constructor(private readonly o: FleetCoreOptions) {
    this.clock = o.clock ?? Date.now;
    this.registry = new DeviceRegistry(this.clock);
    this.logger = o.logger.child({ component: "fleet" });
  }

  private changed(): void {
    this.o.onChange?.();
  }

  /** Every MQTT message the link receives. Never throws on bad input: counts and logs it. */
  handleMessage(topic: string, payload: Buffer): void {
    const stateOf = deviceOfTopic(topic, "state");
    if (stateOf !== undefined) {
      const state = parseDeviceState(payload);
      if (state === undefined) return void this.logger.warn({ topic }, "device state neither online nor offline; ignored");
      this.stats.states++;
      if (this.registry.setOnline(stateOf, state === "online")) this.changed();
      if (state === "online") for (const r of this.rollouts.values()) r.onOnline(stateOf);
      return;
    }
    this.stats.status.received++;
    const parsed = parseStatus(topic, payload);
    if (!parsed.ok) {
      this.stats.status.malformed++;
      this.logger.warn({ topic, reason: parsed.reason, bytes: payload.length }, "malformed OTA status ignored");
      return;
    }
    const status = parsed.status;
    this.stats.status.accepted++;
    const before = this.registry.get(status.device)?.lastStatus?.state;
    this.registry.recordStatus(status);
    const rollout = (status.rolloutId !== undefined ? this.rollouts.get(status.rolloutId) : undefined) ?? [...this.rollouts.values()].find((r) => r.ownsOffer(status.offerId));
    if (rollout === undefined || !rollout.onStatus(status)) {
      // A direct offer, another fleet instance's rollout (shared subscription) or an old offer.
      this.stats.status.unmatched++;
      this.logger.debug({ device: status.device, offerId: status.offerId, state: status.state }, "status matches no rollout here");
    }
    if (before !== status.state) this.changed();
  }

  releases(): { releases: Release[]; problems: { file: string; problem: string }[] } {
    return this.o.store.scan();
  }

  private release(id: string): Release {
    const r = this.o.store.find(id);
    if (r === undefined) throw new FleetApiError(404, `no release ${JSON.stringify(id)} in ${this.o.store.dir}; GET /releases lists them`);
    return r;
  }

  private buildOffer(release: Release, offerId: string, rolloutId?: string, roots?: string[]): OtaOffer {
    return {
      v: 1,
      offerId,
      ...(rolloutId !== undefined ? { rolloutId } : {}),
      manifest: release.manifestBytes.toString("base64"),
      signatures: release.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
      url: `${this.o.baseUrl()}/releases/${encodeURIComponent(release.archive)}`,
      ...(roots !== undefined && roots.length > 0 ? { roots } : {}),
    };
  }

  private async publishOffer(topic: string, offer: OtaOffer): Promise<void> {
    try {
      await this.o.publish(topic, JSON.stringify(offer));
      this.stats.offers.published++;
      this.logger.info({ topic, offerId: offer.offerId, rolloutId: offer.rolloutId }, "offer published");
    } catch (err) {
      this.stats.offers.failed++;
      throw err;
    }
  }

  /** One offer outside any rollout, to a device or to a group topic. */
  async directOffer(body: unknown): Promise<{ offerId: string; topic: string }> {
    const b = (typeof body === "object" && body !== null ? body : {}) as { release?: unknown; device?: unknown; group?: unknown };
    if (typeof b.release !== "string") throw new FleetApiError(400, "release: expected the name-version of a release");
    const to = typeof b.device === "string" ? offerTopic(b.device) : typeof b.group === "string" ? groupOfferTopic(b.group) : undefined;
    if (to === undefined || /[#+]/.test(to)) throw new FleetApiError(400, "expected device or group (no MQTT wildcards)");
    const offerId = newId("o");
    await this.publishOffer(to, this.buildOffer(this.release(b.release), offerId));
    return { offerId, topic: to };
  }

  createRollout(body: unknown): RolloutView {
    const parsed = rolloutSpecSchema.safeParse(body);
    if (!parsed.success) throw new FleetApiError(400, `bad rollout: ${formatIssues(parsed.error)}`);
    const spec = parsed.data;
    const release = this.release(spec.release);
    let threshold;
    try {
      threshold = normalizeThreshold(spec.failureThreshold);
    } catch (err) {
      throw new FleetApiError(400, (err as Error).message);
    }
    let targets: string[];
    if (spec.groups !== undefined && !Array.isArray(spec.groups)) {
      for (const [device, group] of Object.entries(spec.groups)) this.registry.setGroup(device, group);
      targets = spec.devices ?? Object.keys(spec.groups);
    } else if (Array.isArray(spec.groups)) {
      const wanted = new Set(spec.groups);
      const pool = spec.devices ?? this.registry.ids();
      targets = pool.filter((d) => wanted.has(this.registry.get(d)?.group ?? ""));
    } else {
      targets = spec.devices ?? this.registry.ids();
    }
    const plan = planStages(targets, spec.stages, spec.seed ?? "");
    if (plan.stages.every((s) => s.devices.length === 0)) throw new FleetApiError(409, `no device to roll out to: ${targets.length} target(s), and the stages took none`);
    const id = newId("r");
    const rollout = new Rollout(id, release.id, plan.stages, plan.unplanned, threshold, spec.waveDelayMs ?? 0, {
      offer: (device, offerId) => this.publishOffer(offerTopic(device), this.buildOffer(release, offerId, id, spec.roots)),
      isOffline: (device) => this.registry.get(device)?.online === false,
      setTimer: this.o.setTimer ?? defaultTimer,
      clock: this.clock,
      onChange: () => this.changed(),
      onError: (message, device) => this.logger.error({ rolloutId: id, device }, message),
      onState: (state, reason) => (state === "halted" ? this.logger.warn({ rolloutId: id, reason }, "rollout halted") : this.logger.info({ rolloutId: id, state }, `rollout ${state}`)),
    });
    this.rollouts.set(id, rollout);
    this.logger.info({ rolloutId: id, release: release.id, stages: plan.stages.map((s) => `${s.name}:${s.devices.length}`), unplanned: plan.unplanned.length }, "rollout started");
    rollout.start();
    return rollout.view();
  }

  rollout(id: string): Rollout {
    const r = this.rollouts.get(id);
    if (r === undefined) throw new FleetApiError(404, `no rollout ${JSON.stringify(id)}`);
    return r;
  }

  rolloutViews(): RolloutView[] {
    return [...this.rollouts.values()].map((r) => r.view());
  }

  halt(id: string, reason?: string): RolloutView {
    const r = this.rollout(id);
    if (r.state === "completed") throw new FleetApiError(409, `rollout ${id} is already completed`);
    r.halt(reason ?? "halted by the operator");
    return r.view();
  }

  resume(id: string): RolloutView {
    const r = this.rollout(id);
    if (r.state !== "halted") throw new FleetApiError(409, `rollout ${id} is ${r.state}, not halted`);
    r.resume();
    this.logger.info({ rolloutId: id }, "rollout resumed");
    return r.view();
  }

  devices(): DeviceView[] {
    return this.registry.views();
  }

  stop(): void {
    for (const r of this.rollouts.values()) r.stop();
  }
}
