/**
 * One staged rollout: offers a release stage by stage, follows each device's status, and halts when
 * failures pass the threshold. It publishes through an injected function and schedules wave delays
 * through an injected timer, so it runs the same against a real broker and in a unit test.
 */
import { randomBytes } from "node:crypto";
import { FAILURE_STATES, TERMINAL_STATES, type OtaState, type OtaStatus } from "./messages.js";
import type { PlannedStage } from "./plan.js";
import { describeThreshold, exceedsThreshold, type FailureThreshold } from "./threshold.js";

/**
 * Before a status: `pending` (stage not started, or an offer publish failed and waits for its retry),
 * `waiting_online` (offline when its stage started), `offered`; `busy` = the device refused with
 * OTA_BUSY (another update running) and is offered again later.
 */
export type DeviceRolloutState = "pending" | "waiting_online" | "offered" | "busy" | OtaState;

export interface RolloutRetry {
  /** Delay before an OTA_BUSY device gets the offer again (default 60 s). */
  busyRetryMs: number;
  /** First delay before re-publishing an offer whose publish failed; doubles up to maxPublishRetryMs. */
  publishRetryMs: number;
  maxPublishRetryMs: number;
}

const DEFAULT_RETRY: RolloutRetry = { busyRetryMs: 60_000, publishRetryMs: 1000, maxPublishRetryMs: 60_000 };

/** A refusal for a reason other than "busy" (wrong key, platform, floor...): the release cannot go there. */
function isHardRefusal(d: RolloutDevice): boolean {
  return d.state === "refused" && d.error?.code !== "OTA_BUSY";
}
export type RolloutState = "running" | "waiting" | "halted" | "completed";

export interface RolloutDevice {
  stage: number;
  state: DeviceRolloutState;
  offerId?: string;
  progress?: { bytes: number; total: number };
  error?: { code: string; message: string };
  installedVersion?: string | null;
  updatedAt?: string;
}

export interface RolloutHooks {
  /** Publishes the offer to one device; rejects when it cannot. */
  offer(device: string, offerId: string): Promise<void>;
  /** Whether the device is known to be offline now (unknown counts as online: offer and see). */
  isOffline(device: string): boolean;
  setTimer(ms: number, fn: () => void): () => void;
  clock(): number;
  onChange(): void;
  onError(message: string, device: string): void;
  /** halted, completed, running again: for the log. */
  onState(state: RolloutState, reason: string | undefined): void;
}

export interface RolloutView {
  id: string;
  release: string;
  state: RolloutState;
  reason: string | null;
  createdAt: string;
  currentStage: string | null;
  failureThreshold: FailureThreshold;
  waveDelayMs: number;
  stages: { name: string; state: "pending" | "active" | "done"; devices: string[] }[];
  unplanned: string[];
  counts: { targets: number; offered: number; committed: number; failures: number; refused: number; inProgress: number; acceptedFailures: number };
  devices: Record<string, RolloutDevice>;
}

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString("hex")}`;
}

export class Rollout {
  state: RolloutState = "running";
  reason: string | undefined;
  private current = -1;
  private readonly devices = new Map<string, RolloutDevice>();
  private readonly offerIds = new Map<string, string>();
  private cancelTimer: (() => void) | undefined;
  /** Failures the operator accepted by resuming after a halt; the threshold counts only new ones. */
  private acceptedFailures = 0;
  private readonly createdAt: number;
  private readonly retry: RolloutRetry;
  /** Failed offer publishes per device (the retry backoff grows with it). */
  private readonly publishFailures = new Map<string, number>();
  private readonly retryTimers = new Set<() => void>();

  constructor(
    readonly id: string,
    readonly release: string,
    private readonly stages: PlannedStage[],
    private readonly unplanned: string[],
    private readonly threshold: FailureThreshold,
    private readonly waveDelayMs: number,
    private readonly hooks: RolloutHooks,
    retry: Partial<RolloutRetry> = {},
  ) {
    this.retry = { ...DEFAULT_RETRY, ...retry };
    this.createdAt = hooks.clock();
    stages.forEach((s, i) => s.devices.forEach((d) => this.devices.set(d, { stage: i, state: "pending" })));
  }

  start(): void {
    this.startStage(0);
  }

  hasDevice(device: string): boolean {
    return this.devices.has(device);
  }

  ownsOffer(offerId: string): boolean {
    return this.offerIds.has(offerId);
  }

  /** A status for this rollout. Returns false when it does not belong (another device, an old offer). */
  onStatus(status: OtaStatus): boolean {
    const d = this.devices.get(status.device);
    if (d === undefined || d.offerId === undefined || (status.offerId !== d.offerId && status.rolloutId !== this.id)) return false;
    const wasTerminal = TERMINAL_STATES.has(d.state as OtaState);
    // QoS 1 may deliver a progress report again after the outcome: an outcome is never undone by it.
    if (wasTerminal && !TERMINAL_STATES.has(status.state)) return true;
    if (status.state === "refused" && status.error?.code === "OTA_BUSY") {
      // Busy is "not now", not an outcome: counting it as done (or as a failure) would move the wave
      // on, or halt it, because of an unrelated update. Offer the same offer again later.
      d.state = "busy";
      d.error = status.error;
      d.updatedAt = new Date(this.hooks.clock()).toISOString();
      this.later(this.retry.busyRetryMs, () => {
        if (d.state === "busy" && this.state === "running") this.offerOrWait(status.device, d);
      });
      this.hooks.onChange();
      return true;
    }
    d.state = status.state;
    d.progress = status.progress;
    d.error = status.error;
    d.installedVersion = status.installedVersion;
    d.updatedAt = new Date(this.hooks.clock()).toISOString();
    this.evaluate();
    this.hooks.onChange();
    return true;
  }

  /** A device came online: offer now if its stage started while it was away. */
  onOnline(device: string): void {
    const d = this.devices.get(device);
    if (d?.state === "waiting_online" && this.state === "running") this.offer(device, d);
  }

  halt(reason: string): void {
    if (this.state === "halted" || this.state === "completed") return;
    this.state = "halted";
    this.reason = reason;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.hooks.onState(this.state, reason);
    this.hooks.onChange();
  }

  resume(): void {
    if (this.state !== "halted") return;
    this.state = "running";
    this.reason = undefined;
    const c = this.count();
    this.acceptedFailures = c.failures + c.refused;
    // Devices of the active stage that the halt caught before their offer get it now.
    for (const [id, d] of this.devices) if (d.stage === this.current && (d.state === "pending" || d.state === "waiting_online")) this.offerOrWait(id, d);
    this.evaluate();
    this.hooks.onChange();
  }

  stop(): void {
    this.cancelTimer?.();
    for (const cancel of this.retryTimers) cancel();
    this.retryTimers.clear();
  }

  private later(ms: number, fn: () => void): void {
    const cancel = this.hooks.setTimer(ms, () => {
      this.retryTimers.delete(cancel);
      fn();
    });
    this.retryTimers.add(cancel);
  }

  private offerOrWait(id: string, d: RolloutDevice): void {
    if (this.hooks.isOffline(id)) d.state = "waiting_online";
    else this.offer(id, d);
  }

  private offer(id: string, d: RolloutDevice): void {
    const offerId = d.offerId ?? newId("o");
    d.offerId = offerId;
    this.offerIds.set(offerId, id);
    d.state = "offered";
    this.hooks.offer(id, offerId).then(
      () => this.publishFailures.delete(id),
      (err: unknown) => {
        // Back to pending used to be the end of it: nothing offered it again, and the stage waited
        // for that device forever. Retry with a growing delay while the rollout runs.
        if (d.state !== "offered" || d.offerId !== offerId) return;
        d.state = "pending";
        const failures = (this.publishFailures.get(id) ?? 0) + 1;
        this.publishFailures.set(id, failures);
        const delay = Math.min(this.retry.maxPublishRetryMs, this.retry.publishRetryMs * 2 ** (failures - 1));
        this.hooks.onError(`offer not published (attempt ${failures}, retry in ${delay} ms): ${(err as Error).message}`, id);
        this.later(delay, () => {
          if (d.state === "pending" && this.state === "running" && d.stage === this.current) this.offerOrWait(id, d);
        });
      },
    );
  }

  private startStage(index: number): void {
    this.cancelTimer = undefined;
    if (this.state === "halted" || this.state === "completed") return;
    this.state = "running";
    this.current = index;
    for (const [id, d] of this.devices) {
      if (this.state !== "running") break; // a synchronous halt stops the rest of the wave
      if (d.stage === index) this.offerOrWait(id, d);
    }
    this.evaluate();
    this.hooks.onChange();
  }

  /** `refused` counts hard refusals only; a busy device is in progress. The threshold counts failures + refused. */
  private count() {
    let offered = 0, committed = 0, failures = 0, refused = 0, inProgress = 0;
    for (const d of this.devices.values()) {
      if (d.stage > this.current) continue;
      offered++;
      if (d.state === "committed") committed++;
      else if (FAILURE_STATES.has(d.state as OtaState)) failures++;
      else if (isHardRefusal(d)) refused++;
      else inProgress++;
    }
    return { offered, committed, failures, refused, inProgress };
  }

  private evaluate(): void {
    if (this.state !== "running") return;
    const c = this.count();
    // A refusal (wrong key, platform, version floor) counts like a failure: a canary stage whose every
    // device refused the release used to complete and send it to every wave.
    const bad = c.failures + c.refused;
    if (exceedsThreshold(this.threshold, bad - this.acceptedFailures, c.offered)) {
      const failed = [...this.devices].filter(([, d]) => FAILURE_STATES.has(d.state as OtaState) || isHardRefusal(d)).map(([id, d]) => `${id} ${d.state}${d.error ? ` (${d.error.code})` : ""}`);
      this.halt(`${bad} of ${c.offered} offered devices failed or refused, ${describeThreshold(this.threshold)} halts the rollout: ${failed.join(", ")}`);
      return;
    }
    const stageDone = [...this.devices.values()].every((d) => d.stage !== this.current || TERMINAL_STATES.has(d.state as OtaState));
    if (!stageDone) return;
    if (this.current >= this.stages.length - 1) {
      this.state = "completed";
      this.hooks.onState(this.state, undefined);
      return;
    }
    const next = this.current + 1;
    if (this.waveDelayMs > 0) {
      this.state = "waiting";
      this.cancelTimer = this.hooks.setTimer(this.waveDelayMs, () => this.startStage(next));
    } else {
      this.startStage(next);
    }
  }

  view(): RolloutView {
    const c = this.count();
    return {
      id: this.id,
      release: this.release,
      state: this.state,
      reason: this.reason ?? null,
      createdAt: new Date(this.createdAt).toISOString(),
      currentStage: this.stages[this.current]?.name ?? null,
      failureThreshold: this.threshold,
      waveDelayMs: this.waveDelayMs,
      stages: this.stages.map((s, i) => ({ name: s.name, state: i < this.current || (i === this.current && (this.state === "completed" || this.state === "waiting")) ? "done" : i === this.current ? "active" : "pending", devices: s.devices })),
      unplanned: this.unplanned,
      counts: { targets: this.devices.size, ...c, acceptedFailures: this.acceptedFailures },
      devices: Object.fromEntries([...this.devices].sort(([a], [b]) => (a < b ? -1 : 1))),
    };
  }
}
