import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fsyncDir } from "../ota/atomic-file.js";
import { OtaError, isOtaError } from "../ota/errors.js";
import { InstallLayout, pruneReleases, switchBack, switchTo } from "../ota/installer.js";
import { statusOfRecord } from "../ota/report.js";
import { StateStore, SWITCHED_STATES, rollbackPending, type UpdateRecord } from "../ota/state.js";
import { StatusQueue } from "../ota/status-queue.js";
import type { OtaLogger } from "../ota/updater.js";
import { VersionFloor } from "../ota/version-floor.js";
import { agentLaunch } from "../agent-launch.js";
import { HEALTH_INTERVAL_MS, isAgentMessage, type AgentHealthMessage, type FlushReportsRequest } from "./ipc.js";

export interface SupervisorOptions {
  installRoot: string;
  /** The agent's configuration; a committed config bundle (config-current/config.yaml) takes its place. */
  configFile: string;
  /** How long a new version has to prove healthy after a switch (default 60 s). */
  healthWindowMs?: number;
  /** Healthy reports without a break for this long commit the update (default a third of the window, at most 10 s). */
  healthyForMs?: number;
  /**
   * How often the agent sends a health report (default HEALTH_INTERVAL_MS). No report for 1.5 times
   * this breaks a healthy run: a release that reported once and then hung is not committed.
   */
  healthIntervalMs?: number;
  /**
   * With no update under test, an agent that sent no health report for this long is hung (a blocked
   * event loop handles no signal either): it is killed and restarted (default 30 s).
   */
  hangTimeoutMs?: number;
  /**
   * The same before an agent's first report (default 120 s). Agents report "not ok yet" from their
   * first moment, so this only matters for one that hangs before that, or an older release that
   * reported only once running.
   */
  startGraceMs?: number;
  /** Restart delay after a crash when no update runs: doubles per crash up to maxRestartBackoffMs. */
  restartBackoffMs?: number;
  maxRestartBackoffMs?: number;
  /** SIGTERM, then SIGKILL after this long. */
  stopTimeoutMs?: number;
  /** A state entered more than this many times aborts the update (default 3). */
  maxStateEntries?: number;
  /** Extra arguments for `run` (e.g. --log-level). */
  agentArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Called after each state the supervisor writes is durable (tests stop the process here). */
  onState?: (record: UpdateRecord) => void | Promise<void>;
  /** Called each time an agent process starts, with its version. */
  onAgentStart?: (info: { pid: number; version: string | null; testing: boolean }) => void;
  logger?: OtaLogger;
}

type Mode = "normal" | "testing" | "stopping" | "switching";

const silent: OtaLogger = { info() {}, warn() {}, error() {} };

/**
 * Runs `<install-root>/current/dist/agent/cli/main.js run --config FILE` as a child with IPC and owns
 * `current`: after the updater recorded `switching`, it switches, starts the new version, and commits
 * once the agent reported healthy for a while, or switches back when it crashes or never gets there.
 * It restarts a crashed agent with backoff the rest of the time.
 *
 * It loads nothing from `current` (only runs it as a separate process), so a broken release cannot
 * break its own rollback. Every decision is written to ota/state.json before it is acted on, so a
 * killed supervisor resumes where it was (switching is redone, a health window starts again).
 */
export class Supervisor {
  readonly layout: InstallLayout;
  private readonly state: StateStore;
  private readonly queue: StatusQueue;
  private readonly log: OtaLogger;
  private child: ChildProcess | null = null;
  private mode: Mode = "normal";
  private restarts = 0;
  private startedAt = 0;
  private timers = new Set<NodeJS.Timeout>();
  private windowTimer: NodeJS.Timeout | null = null;
  private commitTimer: NodeJS.Timeout | null = null;
  /** Re-armed by every health report while testing; fires when the agent went silent. */
  private watchdogTimer: NodeJS.Timeout | null = null;
  private lastHealth: AgentHealthMessage | null = null;
  private lastHealthAt = 0;
  /** Checks the running agent still reports health (normal mode; testing has its health window). */
  private livenessTimer: NodeJS.Timeout | null = null;
  /** When a hung agent was sent SIGKILL; null when none is waiting to die. */
  private killedHungAt: number | null = null;
  /** Serialises switch, commit and rollback: they each rewrite `current` and the state file. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: SupervisorOptions) {
    this.layout = new InstallLayout(options.installRoot);
    this.log = options.logger ?? silent;
    this.state = new StateStore(this.layout.stateFile, {
      maxEntries: options.maxStateEntries,
      // A corrupt state file used to throw here: no supervisor, no agent, a truck visit. Now it is
      // moved aside and the supervisor runs `current` from idle, saying so as loudly as it can.
      quarantineCorrupt: true,
      onCorrupt: (err, movedTo) => this.log.error({ err: err.message, movedTo }, "OTA UPDATE STATE CORRUPT: moved aside, starting from idle and running current; inspect the file"),
    });
    this.queue = new StatusQueue(this.layout.outboxDir);
  }

  get healthWindowMs(): number {
    return this.options.healthWindowMs ?? 60_000;
  }

  /** A health report older than this is stale: the agent stopped reporting (hung or dead). */
  get staleHealthMs(): number {
    return Math.round((this.options.healthIntervalMs ?? HEALTH_INTERVAL_MS) * 1.5);
  }

  get healthyForMs(): number {
    return this.options.healthyForMs ?? Math.min(10_000, Math.floor(this.healthWindowMs / 3));
  }

  /** Picks up an update where a previous supervisor left it, then runs the agent. */
  start(): Promise<void> {
    return this.serial(() => this.resumeFromState());
  }

  /** What the state file asks for: finish a decided rollback, redo a switch, test again, or just run. */
  private async resumeFromState(): Promise<void> {
    const r = this.state.reload();
    // A rollback written ahead but not finished (power cut) is finished, never tested again.
    if (rollbackPending(r) && r.error) await this.rollback(r.error.code, r.error.message);
    else if (r.state === "switching") await this.switchOver(true);
    else if (r.state === "testing") await this.beginTesting(true);
    else this.spawnAgent("normal");
  }

  /**
   * The release under test must be what `current` points at. It is not when a rollback switched
   * `current` back and the power went before `rolled_back` was written (older supervisors wrote no
   * intent first): testing "it" would test the old version and commit would raise the floor to the
   * bad one. Returns false after finishing the rollback instead.
   */
  private async underTestIsCurrent(r: UpdateRecord): Promise<boolean> {
    if (!r.release) {
      await this.rollback("OTA_STATE_CORRUPT", `${r.state} without a release in the update state`);
      return false;
    }
    const running = this.layout.currentVersion(r.release.kind);
    if (running === r.release.version) return true;
    await this.rollback("OTA_ROLLBACK_INTERRUPTED", `current points at ${running ?? "nothing"}, not at ${r.release.version} under test: a rollback was cut short; finishing it`);
    return false;
  }

  /** Stops the agent (SIGTERM, then SIGKILL) and every timer. */
  async stop(): Promise<void> {
    this.mode = "stopping";
    for (const t of this.timers) clearTimeout(t);
    this.stopLivenessCheck();
    this.clearTestTimers();
    await this.chain.catch(() => undefined);
    await this.stopChild();
  }

  /**
   * Why this supervisor cannot get the agent running again by itself, or null. The systemd watchdog
   * is pinged only while this is null, so systemd restarts the whole service (every process of the
   * unit) as the last resort: an agent that a SIGKILL did not end within the hang timeout (stuck in
   * the kernel, e.g. on a failing SD card).
   */
  stuck(): string | null {
    if (this.killedHungAt === null || this.child === null) return null;
    const waited = Date.now() - this.killedHungAt;
    if (waited < this.hangTimeoutMs) return null;
    return `the hung agent (pid ${this.child.pid}) has not exited ${Math.round(waited / 1000)} s after SIGKILL`;
  }

  get hangTimeoutMs(): number {
    return this.options.hangTimeoutMs ?? 30_000;
  }

  agentPid(): number | undefined {
    return this.child?.pid;
  }

  record(): UpdateRecord {
    return this.state.reload();
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch((err: unknown) => this.log.error({ err: String(err) }, "supervisor step failed"));
    return next;
  }

  private configPath(): string {
    if (this.layout.currentVersion("config") !== null) {
      for (const name of ["config.yaml", "config.yml", "config.json"]) {
        const p = join(this.layout.currentLink("config"), name);
        if (existsSync(p)) return p;
      }
    }
    return this.options.configFile;
  }

  private spawnAgent(mode: "normal" | "testing"): void {
    if (this.mode === "stopping") return;
    this.mode = mode;
    const main = this.layout.agentMain;
    const launch = agentLaunch(main, ["--config", this.configPath(), ...(this.options.agentArgs ?? [])], this.options.env ?? process.env);
    const child = spawn(launch.command, launch.args, { stdio: ["ignore", "inherit", "inherit", "ipc"], env: launch.env });
    this.child = child;
    this.startedAt = Date.now();
    this.lastHealth = null;
    this.killedHungAt = null;
    this.watchLiveness(child);
    const version = this.layout.currentVersion("agent");
    this.log.info({ pid: child.pid, version, testing: mode === "testing" }, "agent started");
    if (child.pid !== undefined) this.options.onAgentStart?.({ pid: child.pid, version, testing: mode === "testing" });
    child.on("error", (err) => this.log.error({ err: err.message }, "cannot start the agent"));
    child.on("message", (msg: unknown) => {
      if (this.child !== child || !isAgentMessage(msg)) return;
      if (msg.type === "health") this.onHealth(msg);
      else void this.serial(() => this.onSwitchRequest());
    });
    child.on("exit", (code, signal) => {
      if (this.child === child) {
        this.child = null;
        this.killedHungAt = null;
        this.stopLivenessCheck();
      }
      this.onExit(child, code, signal);
    });
  }

  /**
   * Normal mode: an agent silent for hangTimeoutMs (startGraceMs before its first report) is killed
   * with SIGKILL, since a blocked event loop never handles SIGTERM; its exit restarts it as a crash.
   */
  private watchLiveness(child: ChildProcess): void {
    this.stopLivenessCheck();
    const every = Math.max(50, Math.min(5000, Math.floor(this.hangTimeoutMs / 4)));
    this.livenessTimer = setInterval(() => {
      if (this.mode !== "normal" || this.child !== child || this.killedHungAt !== null) return;
      const since = this.lastHealth ? this.lastHealthAt : this.startedAt;
      const limit = this.lastHealth ? this.hangTimeoutMs : (this.options.startGraceMs ?? 120_000);
      const silentMs = Date.now() - since;
      if (silentMs < limit) return;
      this.log.error({ pid: child.pid, silentMs, reported: this.lastHealth !== null }, "AGENT HUNG: no health report; killing it (SIGKILL) to restart it");
      this.killedHungAt = Date.now();
      child.kill("SIGKILL");
    }, every);
    this.livenessTimer.unref();
  }

  private stopLivenessCheck(): void {
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.mode === "stopping" || this.mode === "switching") return; // we stopped it on purpose
    if (this.mode === "testing") {
      const reason = `the new version exited (${signal ?? `code ${code}`}) ${Math.round((Date.now() - this.startedAt) / 100) / 10} s after it started, before it proved healthy`;
      void this.serial(() => this.rollback("OTA_CRASHED", reason));
      return;
    }
    if (this.child !== null && this.child !== child) return;
    // The updater records `switching` before it sends ota-switch. An agent that died between the two
    // left an installed update nobody would switch to, and every later offer got OTA_BUSY forever.
    // The state file, not the IPC message, says what to do: switch now (no backoff needed).
    if (this.updatePending()) {
      this.log.warn({ code, signal }, "agent exited with an update handed over; switching");
      void this.serial(() => this.afterExit());
      return;
    }
    // A crash loop backs off; an agent that ran for a minute starts again quickly.
    if (Date.now() - this.startedAt > 60_000) this.restarts = 0;
    const delay = Math.min(this.options.maxRestartBackoffMs ?? 30_000, (this.options.restartBackoffMs ?? 1000) * 2 ** this.restarts++);
    this.log.warn({ code, signal, restartInMs: delay }, "agent exited; restarting it");
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.mode === "normal" && this.child === null) void this.serial(() => this.afterExit());
    }, delay);
    this.timers.add(t);
  }

  /** The state file names a switch or test this supervisor is not running (read errors: no). */
  private updatePending(): boolean {
    try {
      return SWITCHED_STATES.includes(this.state.reload().state);
    } catch (err) {
      this.log.error({ err: String(err) }, "cannot read the update state");
      return false;
    }
  }

  /** After an agent exit in normal mode: whatever the state file asks for, else a plain restart. */
  private async afterExit(): Promise<void> {
    if (this.mode !== "normal" || this.child !== null) return;
    await this.resumeFromState();
  }

  private onHealth(msg: AgentHealthMessage): void {
    this.lastHealth = msg;
    this.lastHealthAt = Date.now();
    if (this.mode !== "testing") return;
    // Only "ok: false" used to stop the clock, so a release that reported ok once and then blocked its
    // event loop (sending nothing more) was committed. Silence now breaks the healthy run too.
    if (this.watchdogTimer) clearTimeout(this.watchdogTimer);
    this.watchdogTimer = setTimeout(() => {
      this.watchdogTimer = null;
      if (this.commitTimer) this.log.warn({ silentForMs: Date.now() - this.lastHealthAt }, "the version under test stopped reporting health");
      if (this.commitTimer) clearTimeout(this.commitTimer);
      this.commitTimer = null;
    }, this.staleHealthMs);
    if (!msg.ok) {
      // The clock restarts: healthy means healthy without a break.
      if (this.commitTimer) clearTimeout(this.commitTimer);
      this.commitTimer = null;
      return;
    }
    if (this.commitTimer) return;
    this.commitTimer = setTimeout(() => {
      this.commitTimer = null;
      void this.serial(() => this.commit());
    }, this.healthyForMs);
  }

  private async onSwitchRequest(): Promise<void> {
    const r = this.state.reload();
    if (r.state !== "switching" || this.mode !== "normal") return;
    this.log.info({ offerId: r.offerId, to: r.release?.version }, "agent handed over an installed release; switching");
    this.mode = "switching";
    await this.stopChild();
    await this.switchOver(false);
  }

  /** current -> the new release (idempotent), then the health window. */
  private async switchOver(again: boolean): Promise<void> {
    this.mode = "switching";
    let r = this.state.reload();
    try {
      if (again) {
        r = this.state.enter("switching");
        await this.entered();
      }
      if (!r.release) throw new OtaError("OTA_STATE_CORRUPT", "switching without a release in the update state");
      switchTo(this.layout, r.release.kind, r.release.version, r.fromVersion);
    } catch (err) {
      await this.rollback(isOtaError(err) ? err.code : "OTA_DISK", err instanceof Error ? err.message : String(err));
      return;
    }
    await this.beginTesting(false);
  }

  private async beginTesting(again: boolean): Promise<void> {
    const before = this.state.reload();
    if (!(await this.underTestIsCurrent(before))) return;
    try {
      // Re-entering after a supervisor restart counts: a version that takes the supervisor down with
      // it every time must not be retried forever.
      this.state.enter("testing");
    } catch (err) {
      await this.rollback(isOtaError(err) ? err.code : "OTA_STATE_CORRUPT", err instanceof Error ? err.message : String(err));
      return;
    }
    this.reportRecord();
    await this.entered();
    if (this.mode === "stopping") return;
    this.log.info({ version: before.release?.version, windowMs: this.healthWindowMs, again }, "new version under test");
    this.spawnAgent("testing");
    this.windowTimer = setTimeout(() => {
      this.windowTimer = null;
      const h = this.lastHealth;
      const silent = Date.now() - this.lastHealthAt;
      const why = h === null ? "it never reported health" : silent > this.staleHealthMs ? `it stopped reporting health (nothing for ${silent} ms; hung?)` : h.ok ? "it did not stay healthy long enough" : `its last health report said not ok (configLoaded ${h.configLoaded}, devicesConnected ${h.devicesConnected}, uplinkConnected ${h.uplinkConnected})`;
      void this.serial(() => this.rollback("OTA_UNHEALTHY", `the new version did not prove healthy within ${this.healthWindowMs} ms: ${why}`));
    }, this.healthWindowMs);
  }

  private async commit(): Promise<void> {
    if (this.mode !== "testing") return;
    const r = this.state.reload();
    if (r.state !== "testing" || !r.release) return;
    if (!(await this.underTestIsCurrent(r))) return;
    // Healthy means healthy now: the last report must be ok and recent. Otherwise no commit; the
    // window (still running) rolls back unless a fresh run of reports gets there first.
    const age = Date.now() - this.lastHealthAt;
    if (this.lastHealth?.ok !== true || age > this.staleHealthMs) {
      this.log.warn({ lastOk: this.lastHealth?.ok ?? null, ageMs: age }, "not committing: no recent healthy report");
      return;
    }
    this.clearTestTimers();
    // The floor moves only now: moved earlier, a release failing its health check would leave the
    // device unable to accept the version it rolls back to.
    VersionFloor.open(this.layout.floorFile).commit(r.release.kind, r.release.version);
    this.state.enter("committed", { error: null });
    this.mode = "normal";
    this.restarts = 0;
    try {
      pruneReleases(this.layout, r.release.kind);
    } catch (err) {
      this.log.warn({ err: String(err) }, "could not remove old releases");
    }
    this.log.info({ version: r.release.version, kind: r.release.kind }, "update committed");
    this.reportRecord();
    await this.entered();
  }

  /** Back to the version that ran before the update, reason recorded; then run it. */
  private async rollback(code: string, message: string): Promise<void> {
    if (this.mode === "stopping") return;
    this.clearTestTimers();
    if (!SWITCHED_STATES.includes(this.state.reload().state)) {
      // Only a switch or a test can be rolled back. A late timer or exit after a commit would switch
      // `current` back under a committed floor, then fail to record it and leave no agent running.
      this.log.warn({ code, reason: message, state: this.state.get().state }, "no update to roll back; ignored");
      if (this.mode === "testing") this.mode = "normal";
      if (this.child === null) this.spawnAgent("normal");
      return;
    }
    this.mode = "switching";
    await this.stopChild();
    const r = this.state.reload();
    const kind = r.release?.kind ?? "agent";
    const error = { code, message };
    this.log.error({ code, reason: message, from: r.release?.version, to: r.fromVersion }, "rolling back the update");
    try {
      // Write-ahead: the decision is durable before `current` moves, so a power cut from here on is
      // finished as a rollback on the next start (see resumeFromState).
      if (r.error?.code !== code || r.error.message !== message) {
        this.state.setError(error);
        await this.entered();
      }
      if (r.fromVersion !== null) switchBack(this.layout, kind, r.fromVersion);
      else if (kind === "config") {
        // The first config bundle failed: back to the config file named on the command line.
        rmSync(this.layout.currentLink("config"), { force: true });
        fsyncDir(this.layout.root);
      } else {
        throw new OtaError("OTA_NO_PREVIOUS", "no previous agent version to roll back to");
      }
      this.state.enter("rolled_back", { error });
    } catch (err) {
      const e = { code: isOtaError(err) ? err.code : "OTA_NO_PREVIOUS", message: `${message}; and the rollback failed: ${err instanceof Error ? err.message : String(err)}` };
      this.log.error(e, "rollback failed; running what is installed");
      this.state.enter("failed", { error: e });
    }
    this.reportRecord();
    await this.entered();
    this.mode = "normal";
    this.restarts = 0;
    this.spawnAgent("normal");
  }

  private clearTestTimers(): void {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    if (this.commitTimer) clearTimeout(this.commitTimer);
    if (this.watchdogTimer) clearTimeout(this.watchdogTimer);
    this.windowTimer = null;
    this.commitTimer = null;
    this.watchdogTimer = null;
  }

  private async stopChild(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), this.options.stopTimeoutMs ?? 15_000);
    await exited;
    clearTimeout(timer);
    if (this.child === child) this.child = null;
  }

  private async entered(): Promise<void> {
    await this.options.onState?.(this.state.get());
  }

  /** Queued for the agent to publish (the supervisor has no MQTT client), then the agent is told. */
  private reportRecord(): void {
    const r = this.state.get();
    if (!r.reportTo || !r.release) return;
    const status = statusOfRecord(r.reportTo.device, r, this.layout.currentVersion(r.release.kind), Date.now());
    if (!status) return;
    try {
      this.queue.enqueue(r.reportTo.topic, status);
    } catch (err) {
      this.log.warn({ err: String(err) }, "cannot queue an OTA status message");
      return;
    }
    const flush: FlushReportsRequest = { type: "ota-flush" };
    if (this.child?.connected) this.child.send(flush, () => undefined);
  }
}
