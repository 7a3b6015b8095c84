import type { Driver, DriverContext, DriverStatus, ConnectionState } from "../driver.js";
import type { Sample, SampleSink, SampleValue } from "../../model.js";
import { EdgeError, errorMessage } from "../../errors.js";
import { Backoff } from "../backoff.js";
import { LatencyWindow } from "../latency.js";
import { DriverStats } from "../driver-stats.js";
import type { ModbusDeviceConfig, ModbusPointConfig } from "./config.js";
import { planPolls, type PollGroup, type ReadBlock } from "./plan.js";
import { classifyModbusError, type ModbusErrorKind } from "./errors.js";
import { createLink, linkKey, type ModbusClient, type ModbusLink } from "./link.js";
import { decodeBlock } from "./decode-block.js";
import { writePoint } from "./write.js";

type ReadResult = { ok: true; data: ReadonlyArray<number | boolean> } | { ok: false; kind: ModbusErrorKind; message: string };
type BlockReader = (client: ModbusClient) => Promise<{ data: ReadonlyArray<number | boolean> }>;

/**
 * A Modbus device over TCP, RTU or RTU-over-TCP. Each poll group (points sharing an interval) runs on
 * its own timer, so a slow or dead device never delays another; reads are planned once into the
 * fewest requests; every failure becomes `bad` samples and a status entry, never an exception out of
 * the loop. Devices on one serial line share one link and take turns on it; a Modbus TCP device has
 * its own connection, which with `maxInFlight` > 1 carries a poll's reads at once.
 */
export class ModbusDriver implements Driver {
  readonly id: string;
  private readonly stats: DriverStats<ModbusErrorKind>;
  private readonly groups: PollGroup[];
  private readonly pointsById: Map<string, ModbusPointConfig>;
  private readonly backoff = new Backoff();
  private readonly latency = new LatencyWindow();
  /** The request function of each read block, made once: a poll only replays them. */
  private readonly readers = new Map<ReadBlock, BlockReader>();
  private state: ConnectionState = "disconnected";
  private sink: SampleSink | null = null;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly busy = new Set<PollGroup>();
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
    for (const group of this.groups) for (const block of group.blocks) this.readers.set(block, readerFor(block));
  }

  async start(sink: SampleSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    const shared = this.ctx.shared.acquire(linkKey(this.config), () => createLink(this.config), (l: ModbusLink) => l.close());
    this.link = shared.value;
    this.releaseLink = shared.release;
    const requests = this.groups.reduce((n, g) => n + g.blocks.length, 0);
    this.ctx.logger.info(
      { endpoint: this.endpoint(), points: this.config.points.length, requests, intervals: this.groups.map((g) => g.pollMs) },
      "modbus device configured",
    );
    // Connection failures are handled inside the poll loop, so start never throws for an unreachable
    // device: the agent must come up even when a PLC is switched off.
    for (const group of this.groups) this.schedule(group, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
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

  private schedule(group: PollGroup, delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.cycle(group);
    }, delayMs);
    this.timers.add(timer);
  }

  /** One poll of a group; a cycle that outlasts its interval skips the slots it missed (counted), never piles up. */
  private async cycle(group: PollGroup): Promise<void> {
    if (this.stopped) return;
    if (this.busy.has(group)) {
      this.stats.counters.overruns++;
      return;
    }
    this.busy.add(group);
    const started = this.ctx.clock();
    this.stats.counters.polls++;
    try {
      const link = this.link;
      if (link && this.state === "connected" && link.isOpen) await this.pollGroup(group);
      else if (await this.ensureConnected()) await this.pollGroup(group);
    } catch (err) {
      // pollGroup handles its own errors; anything reaching here is a bug, which must not kill the loop.
      this.stats.countError("other", errorMessage(err));
    } finally {
      this.busy.delete(group);
      const elapsed = this.ctx.clock() - started;
      if (elapsed > group.pollMs) this.stats.counters.overruns += Math.floor(elapsed / group.pollMs);
      this.schedule(group, group.pollMs - (elapsed % group.pollMs));
    }
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
    if (this.ctx.clock() < this.nextConnectAt) return false;
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

  private async pollGroup(group: PollGroup): Promise<void> {
    const samples: Sample[] = [];
    const blocks = group.blocks;
    if (blocks.length > 1 && (this.link?.maxInFlight ?? 1) > 1) {
      // The connection takes several requests at once: send the group's reads together.
      const ts = this.ctx.clock();
      const results = await Promise.all(blocks.map((b) => this.readBlock(b)));
      for (let i = 0; i < blocks.length; i++) if (!this.take(blocks[i]!, results[i]!, ts, samples)) return;
    } else {
      for (const block of blocks) {
        const ts = this.ctx.clock();
        if (!this.take(block, await this.readBlock(block), ts, samples)) return;
      }
    }
    this.deliver(samples);
  }

  /** Adds one block's samples (good or bad) to `samples`; false when the link died and the device went bad. */
  private take(block: ReadBlock, result: ReadResult, ts: number, samples: Sample[]): boolean {
    if (result.ok) {
      const from = samples.length;
      decodeBlock(block, result.data, ts, samples);
      if (this.badPoints.size > 0) for (let i = from; i < samples.length; i++) this.badPoints.delete(samples[i]!.point);
      this.stats.lastSuccessAt = ts;
      return true;
    }
    if (result.kind === "connection" || !this.link?.isOpen) {
      // The link died under us: report the whole device as disconnected, not block by block.
      this.deliver(samples);
      this.markDisconnected(result.message);
      return false;
    }
    samples.push(...this.badSamples(block.points.map((p) => p.point), ts, `${result.kind}: ${result.message}`));
    return true;
  }

  /** One read with retries for lost or garbled frames; exceptions and broken links are not retried. */
  private async readBlock(block: ReadBlock): Promise<ReadResult> {
    const link = this.link;
    const reader = this.readers.get(block);
    if (!link || !reader) return { ok: false, kind: "connection", message: "no link" };
    for (let attempt = 0; ; attempt++) {
      this.stats.counters.requests++;
      const started = performance.now();
      try {
        const { data } = await link.run(this.config.unitId, this.config.timeoutMs, reader);
        this.latency.record(performance.now() - started);
        return { ok: true, data };
      } catch (err) {
        const c = classifyModbusError(err);
        this.stats.countError(c.kind, c.message);
        if (!c.retryable || attempt >= this.config.retries || this.stopped) return { ok: false, kind: c.kind, message: c.message };
      }
    }
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

/** The request that reads one block, by table. */
function readerFor(block: ReadBlock): BlockReader {
  const { start, count } = block;
  switch (block.table) {
    case "holding":
      return (c) => c.readHoldingRegisters(start, count);
    case "input":
      return (c) => c.readInputRegisters(start, count);
    case "coil":
      return (c) => c.readCoils(start, count);
    case "discrete":
      return (c) => c.readDiscreteInputs(start, count);
  }
}
