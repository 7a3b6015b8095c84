import { createReadStream, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isFlushRequest, type OtaSwitchRequest } from "../supervisor/ipc.js";
import { writeFileAtomic } from "./atomic-file.js";
import { download, type DownloadFile, type DownloadTuning } from "./download.js";
import { OtaError, isOtaError } from "./errors.js";
import { InstallLayout, installRelease } from "./installer.js";
import type { Platform, ReleaseKind } from "./manifest.js";
import { offerTopics, otaOfferSchema, statusTopic, type OtaOffer, type OtaStatusState } from "./messages.js";
import { claimedLabel, statusMessage, statusOfRecord, type ReleaseLabel } from "./report.js";
import { encodeRootFile, parseRoot, readRootFile, walkRootChain, type SignedRoot } from "./root.js";
import { StateStore, SWITCHED_STATES, type UpdateRecord } from "./state.js";
import { StatusQueue } from "./status-queue.js";
import { currentPlatform, verifyManifest, verifyPayload, type VerifiedManifest } from "./verify.js";
import type { UnpackOptions } from "./unpack.js";
import { VersionFloor } from "./version-floor.js";

/** The MQTT side, injected: the runtime wires it to the uplink's client (QoS 1 both ways). */
/** Refusal reports being published at once; more are dropped (a flood of forged offers). */
const MAX_REFUSALS_IN_FLIGHT = 16;

export interface OtaTransport {
  subscribe(topic: string, handler: (payload: Buffer) => void): void | Promise<void>;
  publish(topic: string, payload: Buffer): Promise<void>;
}

export interface OtaLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: OtaLogger = { info() {}, warn() {}, error() {} };

export interface UpdaterOptions {
  installRoot: string;
  deviceId: string;
  /** Default `edge/{deviceId}`. */
  topicRoot?: string;
  groups?: readonly string[];
  /** The product name releases must carry (default "edge-agent"). */
  product?: string;
  /** Default: this machine (currentPlatform()). */
  platform?: Exclude<Platform, "any">;
  /** The root of trust the device shipped with; ota/root.json supersedes it once a rotation was accepted. */
  shippedRoot: SignedRoot;
  transport: OtaTransport;
  download?: Partial<DownloadTuning> & { ca?: string | Buffer; openFile?: (path: string) => Promise<DownloadFile> };
  unpack?: UnpackOptions;
  /** A state entered more than this many times aborts the update (default 3). */
  maxStateEntries?: number;
  /** How often queued status messages are retried even without a trigger (default 60 s). */
  flushIntervalMs?: number;
  /** Shortest gap between two `downloading` progress messages. */
  progressIntervalMs?: number;
  now?: () => Date;
  /**
   * Called once `switching` is durable: the supervisor takes over from here. Default: an IPC message
   * to the parent (the supervisor); without one, the switch happens when a supervisor next starts.
   */
  handover?: (record: UpdateRecord) => void;
  /** Called after each state is durable and before the step it names runs (tests stop the process here). */
  onState?: (record: UpdateRecord) => void | Promise<void>;
  logger?: OtaLogger;
}

/** What GET /status shows under `ota`. */
export interface UpdaterStatus {
  state: UpdateRecord["state"];
  offerId: string | null;
  rolloutId: string | null;
  release: ReleaseLabel | null;
  fromVersion: string | null;
  error: { code: string; message: string } | null;
  updatedAt: string;
  installed: Record<ReleaseKind, string | null>;
  progress: { bytes: number; total: number } | null;
  pendingReports: number;
}

type ResumableStep = "downloading" | "verifying" | "installing";

/**
 * The OTA client inside the agent: offer in, release unpacked side by side, `switching` recorded, then
 * the supervisor's turn. It trusts nothing in an offer until the manifest has passed verifyManifest
 * (with the offered roots walked from the trusted one), and never touches `current`.
 */
export class Updater {
  readonly layout: InstallLayout;
  private readonly state: StateStore;
  private readonly queue: StatusQueue;
  private readonly log: OtaLogger;
  private readonly now: () => Date;
  private readonly topicRoot: string;
  private job: Promise<void> | null = null;
  private activeOfferId: string | null = null;
  private progress: { bytes: number; total: number } | null = null;
  private lastProgressAt = 0;
  private stopped = false;
  private refusalsInFlight = 0;
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: UpdaterOptions) {
    this.layout = new InstallLayout(options.installRoot);
    this.now = options.now ?? (() => new Date());
    this.log = options.logger ?? silent;
    // A corrupt state file must not keep the agent (and its telemetry) from starting: moved aside.
    this.state = new StateStore(this.layout.stateFile, {
      maxEntries: options.maxStateEntries,
      now: this.now,
      quarantineCorrupt: true,
      onCorrupt: (err, movedTo) => this.log.error({ err: err.message, movedTo }, "OTA update state corrupt: moved aside, starting from idle"),
    });
    this.queue = new StatusQueue(this.layout.outboxDir);
    this.topicRoot = options.topicRoot ?? `edge/${options.deviceId}`;
  }

  /** Subscribes to the offer topics, sends what the queue holds, and resumes an interrupted update. */
  async start(): Promise<void> {
    for (const topic of offerTopics(this.topicRoot, this.options.groups ?? [])) {
      await this.options.transport.subscribe(topic, (payload) => {
        void this.handleOffer(payload).catch((err: unknown) => this.log.error({ err: String(err) }, "OTA offer handling failed"));
      });
    }
    void this.flushReports();
    // The supervisor queues commit/rollback reports and says so over IPC; a slow timer backs that up.
    if (process.send) process.on("message", this.onParentMessage);
    this.flushTimer = setInterval(() => void this.flushReports(), this.options.flushIntervalMs ?? 60_000);
    this.flushTimer.unref();
    this.resume();
  }

  stop(): void {
    this.stopped = true;
    this.queue.stop();
    process.off("message", this.onParentMessage);
    if (this.flushTimer) clearInterval(this.flushTimer);
  }

  private readonly onParentMessage = (msg: unknown): void => {
    if (isFlushRequest(msg)) void this.flushReports();
  };

  /** Resolves when the update running now (if any) has reached a state where it waits or ended. */
  async settled(): Promise<void> {
    while (this.job) await this.job;
  }

  /** Publishes queued status messages (call again when the uplink reconnects). */
  flushReports(): Promise<void> {
    return this.queue.flush((topic, payload) => this.options.transport.publish(topic, payload));
  }

  status(): UpdaterStatus {
    const r = this.state.reload();
    return {
      state: r.state,
      offerId: r.offerId,
      rolloutId: r.rolloutId,
      release: r.release ? { name: r.release.name, kind: r.release.kind, version: r.release.version } : null,
      fromVersion: r.fromVersion,
      error: r.error,
      updatedAt: r.updatedAt,
      installed: { agent: this.layout.currentVersion("agent"), config: this.layout.currentVersion("config") },
      progress: r.state === "downloading" ? this.progress : null,
      pendingReports: this.queue.pending().length,
    };
  }

  /** One offer message (the MQTT handler). Resolves when the update it started has settled. */
  async handleOffer(payload: Buffer): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString("utf8"));
    } catch {
      this.log.warn({ bytes: payload.length }, "OTA offer is not JSON; ignored");
      return;
    }
    const parsed = otaOfferSchema.safeParse(json);
    if (!parsed.success) {
      const offerId = (json as { offerId?: unknown } | null)?.offerId;
      const message = parsed.error.issues.map((i) => `${i.path.join(".") || "offer"}: ${i.message}`).join("; ");
      this.log.warn({ offerId, message }, "OTA offer refused: invalid");
      if (typeof offerId === "string" && offerId.length > 0 && offerId.length <= 200) {
        this.report({ offerId, label: { name: "", kind: "agent", version: "" }, state: "refused", error: { code: "OTA_OFFER_INVALID", message } });
      }
      return;
    }
    const offer = parsed.data;
    const record = this.state.reload();
    // QoS 1 delivers twice after a reconnect; the fleet may resend. One install per offer id.
    if (this.activeOfferId === offer.offerId || this.state.hasSeen(offer.offerId)) {
      this.log.info({ offerId: offer.offerId }, "OTA offer already seen; nothing to do");
      return;
    }
    if (this.activeOfferId !== null || this.state.isBusy()) {
      const message = `another update is in progress (offer ${this.activeOfferId ?? record.offerId ?? "?"}, ${record.state}); offer refused, send it again later`;
      this.log.warn({ offerId: offer.offerId }, message);
      this.report({ offerId: offer.offerId, rolloutId: offer.rolloutId, label: claimedLabel(Buffer.from(offer.manifest, "base64")), state: "refused", error: { code: "OTA_BUSY", message } });
      return;
    }
    this.activeOfferId = offer.offerId; // set before the first await: a second offer now sees us busy
    const job = this.run(offer).finally(() => {
      this.activeOfferId = null;
      if (this.job === job) this.job = null;
    });
    this.job = job;
    await job;
  }

  private trustedRoot(): SignedRoot {
    const shipped = this.options.shippedRoot;
    if (!existsSync(this.layout.rootFile)) return shipped;
    const saved = readRootFile(this.layout.rootFile);
    return saved.signed.version >= shipped.signed.version ? saved : shipped;
  }

  /** Root chain, then every manifest check. Persists a newer root once its chain has been verified. */
  private verify(offer: OtaOffer): VerifiedManifest {
    const now = this.now();
    const roots = (offer.roots ?? []).map((b64, i) => {
      let json: unknown;
      try {
        json = JSON.parse(Buffer.from(b64, "base64").toString("utf8"));
      } catch (err) {
        throw new OtaError("OTA_ROOT_INVALID", `offered root #${i + 1} is not JSON`, { cause: err });
      }
      return parseRoot(json, `offered root #${i + 1}`);
    });
    roots.sort((a, b) => a.signed.version - b.signed.version);
    const trusted = this.trustedRoot();
    const chain = walkRootChain(trusted, roots, now);
    if (chain.root.signed.version > trusted.signed.version) {
      mkdirSync(this.layout.otaDir, { recursive: true });
      writeFileAtomic(this.layout.rootFile, encodeRootFile(chain.root));
      this.log.info({ from: trusted.signed.version, to: chain.root.signed.version }, "OTA root rotated");
    }
    const manifestBytes = Buffer.from(offer.manifest, "base64");
    const kind = claimedLabel(manifestBytes).kind; // only picks which installed version to compare with
    const platform = this.options.platform ?? currentPlatform();
    if (!platform) throw new OtaError("OTA_PLATFORM", `this machine (${process.platform}-${process.arch}) is not a release platform`);
    return verifyManifest({
      manifestBytes,
      signatures: offer.signatures,
      root: chain.root.signed,
      device: { product: this.options.product ?? "edge-agent", platform, groups: this.options.groups ?? [], installedVersion: this.layout.currentVersion(kind), floor: VersionFloor.open(this.layout.floorFile) },
      now,
    });
  }

  private async run(offer: OtaOffer): Promise<void> {
    const claimed = claimedLabel(Buffer.from(offer.manifest, "base64"));
    let verified: VerifiedManifest;
    try {
      verified = this.verify(offer);
    } catch (err) {
      const installed = this.layout.currentVersion(claimed.kind);
      if (isOtaError(err, "OTA_NOT_NEWER") && installed !== null && claimed.version === installed) {
        // Already there (a resent rollout, a device that updated by other means): no work, and the
        // fleet learns the offer is satisfied.
        this.log.info({ offerId: offer.offerId, version: installed }, "OTA offer is for the installed version; nothing to do");
        this.report({ offerId: offer.offerId, rolloutId: offer.rolloutId, label: claimed, state: "committed" });
        return;
      }
      const e = isOtaError(err) ? err : new OtaError("OTA_MANIFEST_INVALID", String(err));
      this.log.warn({ offerId: offer.offerId, code: e.code, err: e.message }, "OTA offer refused");
      this.report({ offerId: offer.offerId, rolloutId: offer.rolloutId, label: claimed, state: "refused", error: { code: e.code, message: e.message } });
      return;
    }
    const m = verified.manifest;
    this.state.begin({
      offerId: offer.offerId,
      rolloutId: offer.rolloutId ?? null,
      offer,
      release: { name: m.name, kind: m.kind, version: m.version, size: m.size, sha256: m.sha256 },
      fromVersion: this.layout.currentVersion(m.kind),
      reportTo: { device: this.options.deviceId, topic: statusTopic(this.topicRoot) },
    });
    this.log.info({ offerId: offer.offerId, release: `${m.name} ${m.version}`, kind: m.kind }, "OTA update offered and verified");
    this.reportRecord();
    await this.entered();
    await this.proceed("downloading");
  }

  /** Continues an update the process was interrupted in (called by start()). */
  private resume(): void {
    const r = this.state.reload();
    let step: ResumableStep | null = null;
    if (r.state === "offered" || r.state === "downloading") step = "downloading";
    else if (r.state === "verifying") step = "verifying";
    else if (r.state === "installing") step = "installing";
    if (step === null || !r.offer) {
      if (SWITCHED_STATES.includes(r.state)) this.log.info({ state: r.state }, "OTA update is with the supervisor");
      return;
    }
    const from = step;
    const offer = r.offer;
    this.activeOfferId = r.offerId;
    this.log.info({ offerId: r.offerId, state: r.state }, "resuming an interrupted OTA update");
    const job = (async () => {
      try {
        this.verify(offer); // expiry, floor and keys may have changed while we were down
      } catch (err) {
        await this.fail(err);
        return;
      }
      await this.proceed(from, true);
    })().finally(() => {
      this.activeOfferId = null;
      if (this.job === job) this.job = null;
    });
    this.job = job;
  }

  private archivePath(r: UpdateRecord): string {
    const rel = r.release;
    if (!rel) throw new Error("update record has no release");
    return join(this.layout.downloadsDir, `${rel.name}-${rel.kind}-${rel.version}.tar.gz`);
  }

  private async proceed(from: ResumableStep, resumed = false): Promise<void> {
    try {
      const steps: ResumableStep[] = ["downloading", "verifying", "installing"];
      for (const step of steps.slice(steps.indexOf(from))) {
        if (this.stopped) return;
        this.state.enter(step);
        this.reportRecord();
        await this.entered();
        if (step === "downloading") await this.download();
        else if (step === "verifying") await this.verifyArchive();
        else {
          // Resuming at `installing`: the archive was hashed by a previous process, and anything with
          // write access to ota/downloads (or a bad sector) could have changed it since. Hash it again
          // so that only the signed bytes are ever unpacked.
          if (resumed && from === "installing") await this.verifyArchive();
          await this.install();
        }
      }
      const r = this.state.enter("switching");
      rmSync(this.layout.downloadsDir, { recursive: true, force: true });
      this.reportRecord();
      await this.entered();
      this.log.info({ offerId: r.offerId, version: r.release?.version }, "OTA release installed; handing over to the supervisor to switch");
      this.handover(r);
    } catch (err) {
      await this.fail(err);
    }
  }

  private async download(): Promise<void> {
    const r = this.state.get();
    if (!r.offer || !r.release) throw new Error("update record has no offer");
    mkdirSync(this.layout.downloadsDir, { recursive: true });
    const dest = this.archivePath(r);
    if (existsSync(dest)) return; // complete before the interruption (renamed from .part only when whole)
    const { ca, openFile, ...tuning } = this.options.download ?? {};
    const interval = this.options.progressIntervalMs ?? 1000;
    const result = await download({
      ...tuning,
      ca,
      openFile,
      url: r.offer.url,
      dest,
      size: r.release.size,
      onProgress: (bytes, total) => {
        this.progress = { bytes, total };
        const t = Date.now();
        if (t - this.lastProgressAt >= interval || bytes === total) {
          this.lastProgressAt = t;
          this.publishProgress(bytes, total);
        }
      },
    });
    this.log.info({ bytes: result.bytes, attempts: result.attempts, resumedFrom: result.resumedFrom }, "OTA archive downloaded");
  }

  private async verifyArchive(): Promise<void> {
    const r = this.state.get();
    if (!r.release) throw new Error("update record has no release");
    const file = this.archivePath(r);
    if (!existsSync(file)) throw new OtaError("OTA_NOT_FOUND", `downloaded archive ${file} is missing`);
    // 1 MiB reads: hashing a 200 MB archive at sha256sum speed needs fewer, larger chunks (bench ota-verify).
    await verifyPayload(createReadStream(file, { highWaterMark: 1 << 20 }), r.release);
  }

  private async install(): Promise<void> {
    const r = this.state.get();
    if (!r.release) throw new Error("update record has no release");
    await installRelease(this.layout, r.release.kind, r.release.version, this.archivePath(r), this.options.unpack);
  }

  /** Before the switch nothing of the running install changed: clean up and record `failed`. */
  private async fail(err: unknown): Promise<void> {
    const e = isOtaError(err) ? err : new OtaError("OTA_DISK", err instanceof Error ? err.message : String(err), { cause: err });
    const r = this.state.get();
    if (SWITCHED_STATES.includes(r.state)) {
      // `switching` is durable: the supervisor may be switching to this release right now, and it
      // owns the update from here. Deleting the release under it (an error in the hand-over, say)
      // would leave `current` pointing at nothing.
      this.log.error({ offerId: r.offerId, code: e.code, err: e.message, state: r.state }, "OTA error after the hand-over; the supervisor finishes the update");
      return;
    }
    this.log.error({ offerId: r.offerId, code: e.code, err: e.message, state: r.state }, "OTA update failed; the running version stays");
    rmSync(this.layout.downloadsDir, { recursive: true, force: true });
    if (r.release && this.layout.currentVersion(r.release.kind) !== r.release.version && this.layout.previousVersion(r.release.kind) !== r.release.version) {
      rmSync(this.layout.releaseDir(r.release.kind, r.release.version), { recursive: true, force: true });
    }
    if (r.state === "failed" || r.state === "idle") return;
    this.state.enter("failed", { error: { code: e.code, message: e.message } });
    this.reportRecord();
    await this.entered();
  }

  private handover(r: UpdateRecord): void {
    if (this.options.handover) return this.options.handover(r);
    if (process.send) {
      const msg: OtaSwitchRequest = { type: "ota-switch", offerId: r.offerId ?? "" };
      process.send(msg);
    } else {
      this.log.warn({ offerId: r.offerId }, "no supervisor to switch to the new release; it is switched when `edge-agent supervise` next starts");
    }
  }

  private async entered(): Promise<void> {
    await this.options.onState?.(this.state.get());
  }

  private report(f: { offerId: string; rolloutId?: string | undefined; label: ReleaseLabel; state: OtaStatusState; error?: { code: string; message: string } }): void {
    const status = statusMessage({ ...f, device: this.options.deviceId, installedVersion: this.layout.currentVersion(f.label.kind), ts: this.now().getTime() });
    if (f.state === "refused") this.publishRefusal(status);
    else this.enqueue(status);
  }

  /**
   * A refusal is answered over the link the offer just came in on, best effort and never written to
   * disk: anyone who can publish offers could otherwise wear out the gateway's flash with forged ones.
   * At most MAX_REFUSALS_IN_FLIGHT at once; beyond that refusals are only logged.
   */
  private publishRefusal(status: ReturnType<typeof statusMessage>): void {
    if (this.refusalsInFlight >= MAX_REFUSALS_IN_FLIGHT) return;
    this.refusalsInFlight++;
    void this.options.transport
      .publish(statusTopic(this.topicRoot), Buffer.from(JSON.stringify(status)))
      .catch((err: unknown) => this.log.warn({ err: String(err), offerId: status.offerId }, "OTA refusal not delivered"))
      .finally(() => this.refusalsInFlight--);
  }

  private reportRecord(): void {
    const r = this.state.get();
    const status = statusOfRecord(this.options.deviceId, r, r.release ? this.layout.currentVersion(r.release.kind) : null, this.now().getTime());
    if (status) this.enqueue(status);
  }

  private enqueue(status: ReturnType<typeof statusMessage>): void {
    try {
      this.queue.enqueue(statusTopic(this.topicRoot), status);
    } catch (err) {
      // A report that cannot be queued is logged and lost; it never stops or rolls back the update.
      this.log.warn({ err: String(err) }, "cannot queue an OTA status message");
      return;
    }
    void this.flushReports();
  }

  /** Progress is not queued: only the latest matters, and a lost one is replaced a second later. */
  private publishProgress(bytes: number, total: number): void {
    const r = this.state.get();
    if (!r.offerId || !r.release) return;
    const status = statusMessage({ device: this.options.deviceId, offerId: r.offerId, rolloutId: r.rolloutId, label: r.release, state: "downloading", installedVersion: this.layout.currentVersion(r.release.kind), ts: this.now().getTime(), progress: { bytes, total } });
    this.options.transport.publish(statusTopic(this.topicRoot), Buffer.from(JSON.stringify(status))).catch(() => undefined);
  }
}
