import { mkdirSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-file.js";
import { otaStatusSchema, type OtaStatus } from "./messages.js";

export type Publish = (topic: string, payload: Buffer) => Promise<void>;

/** Per process: with the pid in the name, two processes never produce the same file name. */
let sequence = 0;

interface QueuedStatus {
  topic: string;
  status: OtaStatus;
}

/**
 * Status messages on their way to the fleet, one file each in ota/outbox/, so a report written just
 * before a switch (by the agent) or after a rollback (by the supervisor, which has no MQTT client)
 * reaches the fleet once an agent is connected again. Publishing is best-effort and never feeds back
 * into the update: a broker that is down delays the report, it never rolls a release back.
 */
export class StatusQueue {
  private flushing: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs: number;

  constructor(
    readonly dir: string,
    private readonly options: { maxMessages?: number; retryMs?: number; maxRetryMs?: number } = {},
  ) {
    this.retryMs = options.retryMs ?? 5000;
  }

  /** Writes the message to disk (durable before this returns). The oldest go when the queue is full. */
  enqueue(topic: string, status: OtaStatus): void {
    mkdirSync(this.dir, { recursive: true });
    const files = this.files();
    // The agent and the supervisor both queue here: a name from time, pid and a counter never collides
    // (a "last + 1" name could be taken by both and one report overwritten), and still sorts in order.
    const name = `${String(Date.now()).padStart(16, "0")}-${process.pid}-${String(++sequence).padStart(6, "0")}.json`;
    writeFileAtomic(join(this.dir, name), JSON.stringify({ topic, status } satisfies QueuedStatus) + "\n", 0o644);
    const max = this.options.maxMessages ?? 200;
    for (const old of files.slice(0, Math.max(0, files.length + 1 - max))) rmSync(join(this.dir, old), { force: true });
  }

  pending(): QueuedStatus[] {
    const out: QueuedStatus[] = [];
    for (const f of this.files()) {
      const q = this.readOne(f);
      if (q) out.push(q);
    }
    return out;
  }

  /**
   * Publishes queued messages in order, deleting each after it was acknowledged. On the first failure
   * it stops and tries again later (growing delay). Concurrent calls share one run.
   */
  flush(publish: Publish): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.run(publish).finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  stop(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async run(publish: Publish): Promise<void> {
    // Re-list after each pass: messages queued while we were publishing go out in this run too.
    for (let files = this.files(); files.length > 0; files = this.files()) {
      if (!(await this.pass(files, publish))) return;
    }
    this.retryMs = this.options.retryMs ?? 5000;
  }

  /** Publishes `files` in order; false when one failed (a retry is scheduled). */
  private async pass(files: string[], publish: Publish): Promise<boolean> {
    for (const f of files) {
      const q = this.readOne(f);
      if (!q) {
        rmSync(join(this.dir, f), { force: true }); // unreadable: nothing we could ever send
        continue;
      }
      try {
        await publish(q.topic, Buffer.from(JSON.stringify(q.status)));
      } catch {
        if (!this.retryTimer) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            void this.flush(publish);
          }, this.retryMs);
          this.retryTimer.unref();
          this.retryMs = Math.min(this.retryMs * 2, this.options.maxRetryMs ?? 60_000);
        }
        return false;
      }
      rmSync(join(this.dir, f), { force: true });
    }
    return true;
  }

  private files(): string[] {
    try {
      return readdirSync(this.dir).filter((f) => /^\d{16}(-\d+-\d+)?\.json$/.test(f)).sort();
    } catch {
      return [];
    }
  }

  private readOne(file: string): QueuedStatus | null {
    try {
      const json = JSON.parse(readFileSync(join(this.dir, file), "utf8")) as { topic?: unknown; status?: unknown };
      const status = otaStatusSchema.safeParse(json.status);
      if (typeof json.topic !== "string" || !status.success) return null;
      return { topic: json.topic, status: status.data };
    } catch {
      return null;
    }
  }
}
