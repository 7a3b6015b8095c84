import { mkdirSync, readFileSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { fsyncDir, writeFileAtomic } from "./atomic-file.js";
import { OtaError, isOtaError } from "./errors.js";
import { KINDS } from "./manifest.js";
import { otaOfferSchema } from "./messages.js";

/**
 * The persisted update state machine. Every transition is written ahead (temp file, fsync, rename)
 * BEFORE the step it names starts, so after a kill or power cut the record says which step was running
 * and the code can redo it (each step is idempotent) or roll back:
 *
 *   idle ─> offered ─> downloading ─> verifying ─> installing ─> switching ─> testing ─> committed
 *                 └──────────┴─────────────┴─────────────┴──> failed    └──────────┴──> rolled_back
 *
 * Steps up to `installing` run in the agent (updater.ts) and never touch `current`: failing there
 * means `failed`, nothing else to undo. `switching` and `testing` belong to the supervisor, which
 * owns `current`: failing there means switching back, `rolled_back`.
 */
export const UPDATE_STATES = ["idle", "offered", "downloading", "verifying", "installing", "switching", "testing", "committed", "rolled_back", "failed"] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

export const TERMINAL_STATES: readonly UpdateState[] = ["idle", "committed", "rolled_back", "failed"];
/** States after which `current` may already point at the new version. */
export const SWITCHED_STATES: readonly UpdateState[] = ["switching", "testing"];

/** A rollback was decided (and written ahead) but `rolled_back` is not recorded yet. */
export function rollbackPending(record: UpdateRecord): boolean {
  return SWITCHED_STATES.includes(record.state) && record.error !== null;
}

const NEXT: Record<UpdateState, readonly UpdateState[]> = {
  idle: ["offered"],
  committed: ["offered"],
  rolled_back: ["offered"],
  failed: ["offered"],
  offered: ["downloading", "failed"],
  downloading: ["downloading", "verifying", "failed"],
  verifying: ["verifying", "installing", "failed"],
  installing: ["installing", "switching", "failed"],
  switching: ["switching", "testing", "rolled_back", "failed"],
  testing: ["testing", "committed", "rolled_back", "failed"],
};

const errorSchema = z.object({ code: z.string(), message: z.string() });

export const updateRecordSchema = z.strictObject({
  v: z.literal(1),
  state: z.enum(UPDATE_STATES),
  /** Increases with every write: a reader can tell two records apart. */
  seq: z.number().int().min(0),
  offerId: z.string().nullable(),
  rolloutId: z.string().nullable(),
  /** The whole offer, so a restarted agent can re-verify and resume without the fleet sending it again. */
  offer: otaOfferSchema.nullable(),
  /** From the verified manifest. */
  release: z.object({ name: z.string(), kind: z.enum(KINDS), version: z.string(), size: z.number().int(), sha256: z.string() }).nullable(),
  /** Where status messages for this update go (the supervisor, which has no config, reads it here). */
  reportTo: z.object({ device: z.string(), topic: z.string() }).nullable(),
  /** The version of this kind that ran when the update started: what a rollback goes back to. */
  fromVersion: z.string().nullable(),
  /** How often each state was entered during this update (resets with the next offer). */
  entries: z.record(z.string(), z.number().int()),
  error: errorSchema.nullable(),
  updatedAt: z.string(),
  /** The last offer ids seen (bounded): the same offer delivered twice (QoS 1) is recognised. */
  recentOfferIds: z.array(z.string()).max(100),
});
export type UpdateRecord = z.infer<typeof updateRecordSchema>;

export const MAX_STATE_ENTRIES = 3;
const RECENT_OFFERS = 50;

export function idleRecord(now: Date): UpdateRecord {
  return { v: 1, state: "idle", seq: 0, offerId: null, rolloutId: null, offer: null, release: null, reportTo: null, fromVersion: null, entries: {}, error: null, updatedAt: now.toISOString(), recentOfferIds: [] };
}

export interface StateStoreOptions {
  /** A state entered more than this many times in one update aborts it (default 3). */
  maxEntries?: number;
  now?: () => Date;
  /** Called after each record is durable (tests stop the process here to simulate a power cut). */
  onWrite?: (record: UpdateRecord) => void;
  /**
   * A state file that cannot be read or parsed is renamed aside (`state.json.corrupt-TIME`) and the
   * store starts from idle, instead of throwing. For the processes that must run whatever happens to
   * the file: the supervisor (else a flipped bit in one file means no agent and a truck visit) and the
   * agent's updater (else no telemetry either). Off for read-only tools such as `ota status`.
   */
  quarantineCorrupt?: boolean;
  /** Told where a corrupt file went (or null when even the rename failed), so it can be reported loudly. */
  onCorrupt?: (err: OtaError, movedTo: string | null) => void;
}

/** Reads and writes the state file. One writer at a time: the updater before switching, the supervisor after. */
export class StateStore {
  private record: UpdateRecord;
  private readonly maxEntries: number;
  private readonly now: () => Date;

  constructor(
    readonly file: string,
    private readonly options: StateStoreOptions = {},
  ) {
    this.maxEntries = options.maxEntries ?? MAX_STATE_ENTRIES;
    this.now = options.now ?? (() => new Date());
    const read = this.readOrQuarantine();
    this.record = read === null || read === "quarantined" ? idleRecord(this.now()) : read;
  }

  /** The record on disk; null when there is none; "quarantined" when a corrupt one was moved aside. */
  private readOrQuarantine(): UpdateRecord | null | "quarantined" {
    try {
      return StateStore.read(this.file);
    } catch (err) {
      if (!this.options.quarantineCorrupt || !isOtaError(err, "OTA_STATE_CORRUPT")) throw err;
      const aside = `${this.file}.corrupt-${this.now().toISOString().replace(/[:.]/g, "-")}`;
      let movedTo: string | null = aside;
      try {
        renameSync(this.file, aside);
        fsyncDir(dirname(this.file));
      } catch (renameErr) {
        // Already moved by the other process (ENOENT), or the disk refuses: start idle either way;
        // the next write replaces the file atomically.
        if ((renameErr as NodeJS.ErrnoException).code !== "ENOENT") movedTo = null;
      }
      this.options.onCorrupt?.(err, movedTo);
      return "quarantined";
    }
  }

  /** The record on disk, or null when there is none. A corrupt file is an error, never "idle". */
  static read(file: string): UpdateRecord | null {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new OtaError("OTA_STATE_CORRUPT", `cannot read the update state ${file}: ${(err as Error).message}`, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new OtaError("OTA_STATE_CORRUPT", `update state ${file} is not valid JSON`, { cause: err });
    }
    const parsed = updateRecordSchema.safeParse(json);
    if (!parsed.success) throw new OtaError("OTA_STATE_CORRUPT", `update state ${file} is malformed: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    return parsed.data;
  }

  /** Re-reads the file (the other process may have written it). */
  reload(): UpdateRecord {
    const read = this.readOrQuarantine();
    if (read === "quarantined") this.record = { ...idleRecord(this.now()), seq: this.record.seq };
    else if (read !== null) this.record = read;
    return this.record;
  }

  get(): UpdateRecord {
    return this.record;
  }

  isBusy(): boolean {
    return !TERMINAL_STATES.includes(this.record.state);
  }

  hasSeen(offerId: string): boolean {
    return this.record.offerId === offerId || this.record.recentOfferIds.includes(offerId);
  }

  /** Starts a new update: a fresh record in `offered`. */
  begin(fields: Pick<UpdateRecord, "offerId" | "rolloutId" | "offer" | "release" | "fromVersion" | "reportTo">): UpdateRecord {
    if (this.isBusy()) throw new OtaError("OTA_BUSY", `an update is already ${this.record.state} (offer ${this.record.offerId ?? "?"})`);
    const recent = [...this.record.recentOfferIds.filter((id) => id !== fields.offerId), ...(fields.offerId ? [fields.offerId] : [])].slice(-RECENT_OFFERS);
    return this.write({ ...this.record, ...fields, state: "offered", entries: { offered: 1 }, error: null, recentOfferIds: recent });
  }

  /**
   * Enters `state` (again, when resuming). Throws OTA_STATE_LOOP without writing when the state was
   * already entered maxEntries times: a step that kills the process each time must not loop forever.
   */
  enter(state: UpdateState, patch: Partial<Pick<UpdateRecord, "error" | "release" | "fromVersion">> = {}): UpdateRecord {
    const from = this.record.state;
    if (!NEXT[from].includes(state)) throw new Error(`update state cannot go from ${from} to ${state}`);
    const count = (this.record.entries[state] ?? 0) + 1;
    if (!TERMINAL_STATES.includes(state) && count > this.maxEntries) {
      throw new OtaError("OTA_STATE_LOOP", `the update entered "${state}" ${count} times (limit ${this.maxEntries}); giving up on it`);
    }
    return this.write({ ...this.record, ...patch, state, entries: { ...this.record.entries, [state]: count } });
  }

  /**
   * Writes `error` into the record without a transition. The supervisor uses it as a write-ahead
   * rollback intent: `switching`/`testing` with an error means "a rollback was decided", so a power cut
   * between switching `current` back and recording `rolled_back` is finished as a rollback on the next
   * start instead of testing (and committing) whatever `current` happens to point at.
   */
  setError(error: UpdateRecord["error"]): UpdateRecord {
    return this.write({ ...this.record, error });
  }

  private write(next: UpdateRecord): UpdateRecord {
    const record: UpdateRecord = { ...next, seq: this.record.seq + 1, updatedAt: this.now().toISOString() };
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileAtomic(this.file, JSON.stringify(record, null, 2) + "\n", 0o644);
    // Memory follows the disk, never the other way round.
    this.record = record;
    this.options.onWrite?.(record);
    return record;
  }
}
