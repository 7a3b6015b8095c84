import { execFile } from "node:child_process";

/** The smallest logger the notifier needs (pino's and the supervisor's both fit). */
export interface NotifyLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The variables systemd sets for a Type=notify service (and, with WatchdogSec=, for its watchdog). */
export const NOTIFY_ENV_KEYS = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] as const;

/**
 * A copy of `env` without systemd's notify variables, for child processes: only the process systemd
 * started speaks for the service. A child that inherited them would answer the watchdog for a parent
 * that may be hung.
 */
export function withoutNotifyEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const key of NOTIFY_ENV_KEYS) delete copy[key];
  return copy;
}

export interface SystemdNotifierOptions {
  /** $NOTIFY_SOCKET: where systemd listens. */
  socket: string;
  /** Ping interval for the watchdog (half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises); null: no watchdog. */
  watchdogIntervalMs: number | null;
  logger: NotifyLogger;
  /** The sender program (default systemd-notify from PATH); tests point it elsewhere. */
  command?: string;
}

/**
 * systemd's notify protocol (sd_notify(3)) for a service with Type=notify and WatchdogSec=: READY=1
 * once started, STATUS= lines for `systemctl status`, WATCHDOG=1 pings, STOPPING=1.
 *
 * Node cannot send on a unix datagram socket, so each message goes out through systemd-notify(1).
 * Since systemd 246 that tool waits until the manager has processed the message (BARRIER=1), so the
 * message is attributed to our unit although its sender is a short-lived child: the unit needs
 * NotifyAccess=all. One process runs at a time; messages arriving meanwhile are merged into the next
 * one (they are assignments: the latest STATUS wins, repeated WATCHDOG=1 pings are one).
 */
export class SystemdNotifier {
  private readonly pending = new Map<string, string>();
  private queued = false;
  private chain: Promise<void> = Promise.resolve();
  private watchdog: NodeJS.Timeout | null = null;
  /** The last failure logged, so a broken sender is reported once and its recovery once. */
  private failing: string | null = null;
  private withheld: string | null = null;
  private sent = 0;

  constructor(private readonly o: SystemdNotifierOptions) {}

  /**
   * The notifier systemd asked for in `env`, or null when this process was not started by systemd as
   * a notify service. A $WATCHDOG_PID naming another process means the watchdog is not ours to ping.
   */
  static fromEnv(env: NodeJS.ProcessEnv, logger: NotifyLogger, command?: string): SystemdNotifier | null {
    const socket = env.NOTIFY_SOCKET;
    if (!socket) return null;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
    const watchdogIntervalMs = Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 2000)) : null;
    return new SystemdNotifier({ socket, watchdogIntervalMs, logger, command });
  }

  get watchdogIntervalMs(): number | null {
    return this.o.watchdogIntervalMs;
  }

  /** Messages systemd-notify delivered so far (for status output and tests). */
  get delivered(): number {
    return this.sent;
  }

  /** Start-up is complete: systemd marks the unit active (Type=notify waits for this). */
  ready(status: string): Promise<void> {
    return this.send({ READY: "1", STATUS: status });
  }

  /** A one-line state shown by `systemctl status`. */
  status(text: string): Promise<void> {
    return this.send({ STATUS: text });
  }

  /** The service is shutting down on purpose: systemd does not count the exit as a failure to start. */
  stopping(status = "stopping"): Promise<void> {
    this.stopWatchdog();
    return this.send({ STOPPING: "1", STATUS: status });
  }

  /**
   * Pings the watchdog every interval while `stuck()` returns null. A reason from it withholds the
   * ping, so systemd restarts the service when the process cannot recover by itself; a blocked event
   * loop withholds it too, since the timer does not run. No-op without WatchdogSec=.
   */
  startWatchdog(stuck: () => string | null = () => null): void {
    const every = this.o.watchdogIntervalMs;
    if (every === null || this.watchdog) return;
    const tick = () => {
      const reason = stuck();
      if (reason === null) {
        if (this.withheld !== null) this.o.logger.info({ was: this.withheld }, "pinging the systemd watchdog again");
        this.withheld = null;
        void this.send({ WATCHDOG: "1" });
      } else if (this.withheld !== reason) {
        this.withheld = reason;
        this.o.logger.error({ reason }, "NOT PINGING THE SYSTEMD WATCHDOG: systemd will restart the service when it expires");
      }
    };
    tick();
    this.watchdog = setInterval(tick, every);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  /** Merges `fields` into the next message; resolves once it was handed to systemd (or failed, logged). */
  send(fields: Record<string, string>): Promise<void> {
    for (const [key, value] of Object.entries(fields)) this.pending.set(key, value.replace(/[\r\n]+/g, " "));
    if (!this.queued) {
      this.queued = true;
      this.chain = this.chain.then(() => this.flush());
    }
    return this.chain;
  }

  private async flush(): Promise<void> {
    this.queued = false;
    const args = [...this.pending].map(([k, v]) => `${k}=${v}`);
    this.pending.clear();
    const error = await this.run(args);
    if (error === null) {
      this.sent++;
      if (this.failing !== null) this.o.logger.info({ was: this.failing }, "systemd notifications work again");
      this.failing = null;
    } else if (this.failing !== error) {
      this.failing = error;
      const watchdog = this.o.watchdogIntervalMs === null ? "" : "; without WATCHDOG=1 pings systemd will restart the service";
      this.o.logger.error({ err: error, socket: this.o.socket }, `cannot notify systemd${watchdog}`);
    }
  }

  /** Runs the sender once; the error text, or null when it succeeded. */
  private run(args: string[]): Promise<string | null> {
    const command = this.o.command ?? "systemd-notify";
    return new Promise((resolve) => {
      // 10 s: systemd-notify's own barrier wait is 5 s; a manager slower than that is itself in trouble.
      execFile(command, args, { env: { ...process.env, NOTIFY_SOCKET: this.o.socket }, timeout: 10_000 }, (err, _stdout, stderr) => {
        if (!err) return resolve(null);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return resolve(`${command} not found (it ships with systemd)`);
        resolve(`${command} failed: ${stderr.trim() || err.message}`);
      });
    });
  }
}
