import type { Driver, DriverContext, DriverStatus, ConnectionState } from "../driver.js";
import type { Sample, SampleSink, SampleValue } from "../../model.js";
import { EdgeError, errorMessage } from "../../errors.js";
import { Backoff } from "../backoff.js";
import { LatencyWindow } from "../latency.js";
import { DriverStats } from "../driver-stats.js";
import type { ModbusDeviceConfig, ModbusPointConfig } from "./config.js";
import { planPolls, type PollGroup, type ReadBlock } from "./plan.js";
import { classifyModbusError, type ClassifiedError, type ModbusErrorKind } from "./errors.js";
import { createLink, linkKey, type ModbusLink } from "./link.js";
import { decodeBlock } from "./decode-block.js";
import { writePoint } from "./write.js";

type Values = ReadonlyArray<number | boolean>;

/** One block's read as the driver repeats it every poll: the link's request, made once, and this poll's progress. */
interface BlockRun {
  readonly block: ReadBlock;
  /** Sends the read again; the outcome comes back through `answered`. */
  send: () => void;
  attempt: number;
  /** performance.now() when the current attempt left (request latency). */
  sentAt: number;
  /** The clock when the block's read began: its samples' timestamp. */
  ts: number;
  /** Concurrent polls only: each block's outcome, kept until the whole group has answered. */
  values: Values | null;
  failure: ClassifiedError | null;
}

/**
 * One poll group's state. A poll runs on callbacks rather than promises (requests answer straight
 * from the receive buffer), so all it needs lives here, made once: the timer callback, the reads.
 * The group polls on a fixed grid of pollMs slots from its start, so a late timer (a busy event loop)
 * does not push the following polls back; a slot that comes while the previous cycle is still
 * running, or that the event loop was too busy to fire at all, is skipped and counted as an overrun.
 */
interface GroupRun {
  readonly group: PollGroup;
  readonly blocks: BlockRun[];
  /** The group's reads go out together (the connection takes several at once) rather than one after the other. */
  readonly concurrent: boolean;
  readonly fire: () => void;
  /** The timeout of the next slot. */
  timer: NodeJS.Timeout | null;
  /** performance.now() of the next slot. */
  nextSlot: number;
  busy: boolean;
  samples: Sample[];
  /** One after the other: the block being read. Together: the blocks still unanswered. */
  step: number;
}

/** What a group holds between cycles (pollGroup starts each cycle with a fresh array). */
const NO_SAMPLES: Sample[] = [];

/**
 * A Modbus device over TCP, RTU or RTU-over-TCP. Each poll group (points sharing an interval) runs on
 * its own timer, so a slow or dead device never delays another; reads are planned once into the
 * fewest requests; every failure becomes `bad` samples and a status entry, never an exception out of
 * the loop. Devices on one serial line share one link and take turns on it; a Modbus TCP device has
 * its own connection (or, with `connection: shared`, the one its endpoint's devices share), which
 * with `maxInFlight` > 1 carries a poll's reads at once.
 */
export class ModbusDriver implements Driver {
  readonly id: string;
  private readonly stats: DriverStats<ModbusErrorKind>;
  private readonly groups: PollGroup[];
  private readonly pointsById: Map<string, ModbusPointConfig>;
  private readonly backoff = new Backoff();
  private readonly latency = new LatencyWindow();
  private runs: GroupRun[] = [];
  private state: ConnectionState = "disconnected";
  private sink: SampleSink | null = null;
  private stopped = false;
  private nextConnectAt = 0;
  private unreachableLogged = false;
  private link: ModbusLink | null = null;
  private releaseLink: (() => Promise<void>) | null = null;
  /** Points currently reported bad, so a dead device yields one bad sample per point, not one per poll. */
  private readonly badPoints = new Set<string>();

  constructor(
    private readonly config: ModbusDeviceConfig,
    private readonly ctx: DriverContext,
  ) {
    this.id = config.id;
    this.stats = new DriverStats<ModbusErrorKind>(["timeout", "exception", "crc", "corrupt", "connection", "other"], ctx.clock, ctx.logger);
    this.groups = planPolls(config.points, config);
    this.pointsById = new Map(config.points.map((p) => [p.id, p]));
  }

  async start(sink: SampleSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    const shared = this.ctx.shared.acquire(linkKey(this.config), () => createLink(this.config), (l: ModbusLink) => l.close());
    this.link = shared.value;
    this.releaseLink = shared.release;
    this.runs = this.groups.map((g) => this.newRun(g, shared.value));
    const requests = this.groups.reduce((n, g) => n + g.blocks.length, 0);
    this.ctx.logger.info(
      { endpoint: this.endpoint(), points: this.config.points.length, requests, intervals: this.groups.map((g) => g.pollMs) },
      "modbus device configured",
    );
    // Connection failures are handled inside the poll loop, so start never throws for an unreachable
    // device: the agent must come up even when a PLC is switched off.
    for (const run of this.runs) this.schedule(run);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const run of this.runs) {
      if (run.timer !== null) clearTimeout(run.timer);
      run.timer = null;
    }
    await this.releaseLink?.();
    this.releaseLink = null;
    this.state = "stopped";
  }

  status(): DriverStatus {
    return {
      id: this.id,
      protocol: this.config.protocol,
      state: this.state,
      connected: this.state === "connected",
      endpoint: this.endpoint(),
      ...this.stats.snapshot(),
      latencyMs: this.latency.percentiles(),
    };
  }

  async write(pointId: string, value: SampleValue): Promise<void> {
    const point = this.pointsById.get(pointId);
    if (!point) throw new EdgeError("POINT_UNKNOWN", `device ${this.id} has no point ${pointId}`);
    if (!point.writable) throw new EdgeError("POINT_READ_ONLY", `point ${pointId} is not writable`);
    const link = this.link;
    if (!link || this.state !== "connected") throw new EdgeError("DEVICE_OFFLINE", `device ${this.id} is not connected`);
    const write = writePoint(point, value, this.config.writeFunction);
    this.stats.counters.requests++;
    const started = performance.now();
    try {
      await link.run(this.config.unitId, this.config.timeoutMs, write);
      this.latency.record(performance.now() - started);
    } catch (err) {
      const c = classifyModbusError(err);
      this.stats.countError(c.kind, c.message);
      throw new EdgeError("WRITE_FAILED", `writing ${pointId} failed: ${c.message}`, { cause: err });
    }
  }

  private endpoint(): string {
    const where = this.config.protocol === "modbus-rtu" ? `rtu://${this.config.serial.path}` : `${this.config.protocol === "modbus-tcp" ? "tcp" : "rtu-tcp"}://${this.config.host}:${this.config.port}`;
    return `${where} unit ${this.config.unitId}`;
  }

  private newRun(group: PollGroup, link: ModbusLink): GroupRun {
    const run: GroupRun = {
      group,
      blocks: [],
      concurrent: group.blocks.length > 1 && link.maxInFlight > 1,
      fire: () => this.slot(run),
      timer: null,
      nextSlot: 0,
      busy: false,
      samples: NO_SAMPLES,
      step: 0,
    };
    const { unitId, timeoutMs } = this.config;
    for (const block of group.blocks) {
      const b: BlockRun = { block, send: () => undefined, attempt: 0, sentAt: 0, ts: 0, values: null, failure: null };
      b.send = link.repeatedRead(unitId, timeoutMs, block.table, block.start, block.count, (err, values) => this.answered(run, b, err, values));
      run.blocks.push(b);
    }
    return run;
  }

  /** The first poll right after start, then one every pollMs. */
  private schedule(run: GroupRun): void {
    run.nextSlot = performance.now();
    run.timer = setTimeout(run.fire, 0);
  }

  /** A slot of the group's grid: arms the next one, then polls (or counts the overrun). */
  private slot(run: GroupRun): void {
    if (this.stopped) return;
    const pollMs = run.group.pollMs;
    const now = performance.now();
    run.nextSlot += pollMs;
    if (run.nextSlot < now) {
      // Whole slots went by before the timer could fire: they were not polled.
      const missed = Math.ceil((now - run.nextSlot) / pollMs);
      this.stats.counters.overruns += missed;
      run.nextSlot += missed * pollMs;
    }
    // Whole milliseconds: Node keeps one timer list per duration.
    run.timer = setTimeout(run.fire, Math.max(1, Math.round(run.nextSlot - now)));
    this.cycle(run);
  }

  /** One poll of a group; a cycle that outlasts its interval skips the slots it missed (counted), never piles up. */
  private cycle(run: GroupRun): void {
    if (this.stopped) return;
    if (run.busy) {
      this.stats.counters.overruns++;
      return;
    }
    run.busy = true;
    this.stats.counters.polls++;
    const link = this.link;
    if (link && this.state === "connected" && link.isOpen) {
      try {
        this.pollGroup(run);
      } catch (err) {
        this.cycleFailed(run, err);
      }
    } else {
      this.ensureConnected()
        .then((ok) => (ok ? this.pollGroup(run) : this.endCycle(run)))
        .catch((err: unknown) => this.cycleFailed(run, err));
    }
  }

  /** A bug somewhere in a poll: counted, and it must not kill the loop. */
  private cycleFailed(run: GroupRun, err: unknown): void {
    this.stats.countError("other", errorMessage(err));
    this.endCycle(run);
  }

  private endCycle(run: GroupRun): void {
    run.busy = false;
    // Delivered: let go of them, or every device's last batch would survive into the next
    // young-generation collection and be copied there (hundreds of devices, 125 samples each).
    run.samples = NO_SAMPLES;
  }

  private async ensureConnected(): Promise<boolean> {
    const link = this.link;
    if (!link) return false;
    if (this.state === "connected" && link.isOpen) return true;
    if (this.state === "connected") {
      // The device (or the network) closed the connection between two polls.
      this.stats.countError("connection", "connection closed by the device");
      this.markDisconnected("connection closed by the device");
    }
    // A link shared with other devices may be open again already (another device reconnected it):
    // then there is nothing to wait for.
    if (this.ctx.clock() < this.nextConnectAt && !link.isOpen) return false;
    this.state = "connecting";
    try {
      await link.connect();
      this.state = "connected";
      this.backoff.reset();
      this.unreachableLogged = false;
      this.ctx.logger.info({ endpoint: this.endpoint() }, "modbus device connected");
      return true;
    } catch (err) {
      this.stats.countError("connection", errorMessage(err));
      this.markDisconnected(errorMessage(err));
      return false;
    }
  }

  private markDisconnected(reason: string): void {
    this.state = "disconnected";
    const delay = this.backoff.next();
    this.nextConnectAt = this.ctx.clock() + delay;
    const details = { endpoint: this.endpoint(), reason, retryInMs: delay };
    if (this.unreachableLogged) this.ctx.logger.debug(details, "modbus device still unreachable");
    else this.ctx.logger.warn(details, "modbus device unreachable; retrying with backoff");
    this.unreachableLogged = true;
    this.emitBad(this.config.points, `disconnected: ${reason}`);
  }

  private pollGroup(run: GroupRun): void {
    run.samples = [];
    if (run.concurrent) {
      // The connection takes several requests at once: send the group's reads together.
      const ts = this.ctx.clock();
      run.step = run.blocks.length;
      for (const b of run.blocks) {
        b.ts = ts;
        b.values = null;
        b.failure = null;
        this.readBlock(b);
      }
    } else {
      run.step = 0;
      this.readNext(run);
    }
  }

  private readNext(run: GroupRun): void {
    const b = run.blocks[run.step]!;
    b.ts = this.ctx.clock();
    this.readBlock(b);
  }

  private readBlock(b: BlockRun): void {
    b.attempt = 0;
    this.send(b);
  }

  private send(b: BlockRun): void {
    this.stats.counters.requests++;
    b.sentAt = performance.now();
    b.send();
  }

  /** One read's outcome, with retries for lost or garbled frames; exceptions and broken links are not retried. */
  private answered(run: GroupRun, b: BlockRun, err: unknown, values: Values | null): void {
    try {
      if (values !== null) {
        this.latency.record(performance.now() - b.sentAt);
        this.blockDone(run, b, values, null);
        return;
      }
      const c = classifyModbusError(err);
      this.stats.countError(c.kind, c.message);
      if (c.retryable && b.attempt < this.config.retries && !this.stopped) {
        b.attempt++;
        this.send(b);
        return;
      }
      this.blockDone(run, b, null, c);
    } catch (e) {
      // This runs inside the client's receive path: nothing may escape into it.
      this.cycleFailed(run, e);
    }
  }

  private blockDone(run: GroupRun, b: BlockRun, values: Values | null, failure: ClassifiedError | null): void {
    if (!run.concurrent) {
      if (!this.take(b.block, values, failure, b.ts, run.samples)) return this.endCycle(run);
      if (++run.step < run.blocks.length) return this.readNext(run);
    } else {
      b.values = values;
      b.failure = failure;
      if (--run.step > 0) return;
      for (const x of run.blocks) if (!this.take(x.block, x.values, x.failure, x.ts, run.samples)) return this.endCycle(run);
    }
    this.deliver(run.samples);
    this.endCycle(run);
  }

  /** Adds one block's samples (good or bad) to `samples`; false when the link died and the device went bad. */
  private take(block: ReadBlock, values: Values | null, failure: ClassifiedError | null, ts: number, samples: Sample[]): boolean {
    if (values !== null) {
      const from = samples.length;
      decodeBlock(block, values, ts, samples);
      if (this.badPoints.size > 0) for (let i = from; i < samples.length; i++) this.badPoints.delete(samples[i]!.point);
      this.stats.lastSuccessAt = ts;
      return true;
    }
    const f = failure ?? { kind: "other" as const, message: "no answer" };
    if (f.kind === "connection" || !this.link?.isOpen) {
      // The link died under us: report the whole device as disconnected, not block by block.
      this.deliver(samples);
      this.markDisconnected(f.message);
      return false;
    }
    samples.push(...this.badSamples(block.points.map((p) => p.point), ts, `${f.kind}: ${f.message}`));
    return true;
  }

  private emitBad(points: readonly ModbusPointConfig[], reason: string): void {
    this.deliver(this.badSamples(points, this.ctx.clock(), reason));
  }

  private badSamples(points: readonly ModbusPointConfig[], ts: number, reason: string): Sample[] {
    const out: Sample[] = [];
    for (const p of points) {
      if (this.badPoints.has(p.id)) continue;
      this.badPoints.add(p.id);
      out.push({ point: p.id, ts, value: null, quality: "bad", reason });
    }
    return out;
  }

  private deliver(samples: Sample[]): void {
    this.stats.deliver(this.sink, samples);
  }

}
