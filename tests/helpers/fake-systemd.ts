import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "./ports.js";

const SCRIPT = fileURLToPath(new URL("../fixtures/systemd/fake-manager.py", import.meta.url));

/**
 * systemd's side of sd_notify(3) for the tests: a real unix datagram socket (python3, since Node has
 * none) that records every message. The real systemd-notify(1) talks to it, barrier included.
 */
export class FakeSystemd {
  readonly socket: string;
  /** Every message received, as its fields (BARRIER=1 messages left out). */
  readonly messages: Record<string, string>[] = [];
  private readonly child: ChildProcess;
  private buffered = "";
  private listening = false;

  constructor(dir: string) {
    this.socket = join(dir, "notify.sock");
    this.child = spawn("python3", [SCRIPT, this.socket], { stdio: ["ignore", "pipe", "inherit"] });
    this.child.stdout?.on("data", (d: Buffer) => {
      this.buffered += d.toString();
      const lines = this.buffered.split("\n");
      this.buffered = lines.pop() ?? "";
      for (const line of lines) {
        const parsed = JSON.parse(line) as { fields?: Record<string, string>; listening?: string };
        if (parsed.listening) this.listening = true;
        if (parsed.fields && parsed.fields.BARRIER === undefined) this.messages.push(parsed.fields);
      }
    });
  }

  static async start(dir: string): Promise<FakeSystemd> {
    const fake = new FakeSystemd(dir);
    await waitFor(`python3 to bind ${fake.socket}`, () => fake.listening || undefined, 10_000);
    return fake;
  }

  /** The environment systemd gives a Type=notify service, with a watchdog of `watchdogMs` if set. */
  env(watchdogMs?: number): NodeJS.ProcessEnv {
    return watchdogMs === undefined ? { NOTIFY_SOCKET: this.socket } : { NOTIFY_SOCKET: this.socket, WATCHDOG_USEC: String(watchdogMs * 1000) };
  }

  count(key: string): number {
    return this.messages.filter((m) => m[key] !== undefined).length;
  }

  waitFor(what: string, check: (m: Record<string, string>) => boolean, timeoutMs = 10_000): Promise<Record<string, string>> {
    return waitFor(`${what} (messages so far: ${JSON.stringify(this.messages.slice(-10))})`, () => this.messages.find(check), timeoutMs);
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}
