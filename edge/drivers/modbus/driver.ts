import modbusSerial from "modbus-serial";
import type { Driver, DriverContext, DriverStatus, ConnectionState, DriverCounters } from "../driver.js";
import type { Sample, SampleSink, SampleValue } from "../../model.js";
import { EdgeError, errorMessage } from "../../errors.js";
import { Backoff } from "../backoff.js";
import type { ModbusPointConfig, ModbusTcpDeviceConfig } from "./config.js";
import { planReads, type ReadBlock } from "./plan.js";
import { decodeRegisters, encodeRegisters } from "./codec.js";

// modbus-serial is CommonJS whose typings declare an ES default export; under NodeNext the class is
// reached as `.default` (which the package also sets at run time).
const ModbusRTU = modbusSerial.default;

/**
 * Modbus TCP client driver (thin first slice: holding and input registers). Polls its device on its
 * own timer, so a slow or dead device never delays another; reads are planned once into the fewest
 * requests; every failure becomes `bad` samples and a status entry, never an exception out of the loop.
 */
export class ModbusTcpDriver implements Driver {
  readonly id: string;
  private readonly client = new ModbusRTU();
  private readonly blocks: ReadBlock[];
  private readonly pointsById: Map<string, ModbusPointConfig>;
  private readonly backoff = new Backoff();
  private readonly counters: DriverCounters = { polls: 0, requests: 0, errors: 0, samples: 0, overruns: 0 };
  private state: ConnectionState = "disconnected";
  private lastError: string | null = null;
  private lastErrorAt: number | null = null;
  private lastSuccessAt: number | null = null;
  private sink: SampleSink | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private stopped = false;
  private nextConnectAt = 0;
  /** Warn once when the device becomes unreachable; repeats go to debug so a dead PLC does not flood logs. */
  private unreachableLogged = false;
  /** Points currently reported bad, so a dead device yields one bad sample per point, not one per poll. */
  private readonly badPoints = new Set<string>();

  constructor(
    private readonly config: ModbusTcpDeviceConfig,
    private readonly ctx: DriverContext,
  ) {
    this.id = config.id;
    this.blocks = planReads(config.points, config.maxGap);
    this.pointsById = new Map(config.points.map((p) => [p.id, p]));
  }

  async start(sink: SampleSink): Promise<void> {
    this.sink = sink;
    this.stopped = false;
    this.ctx.logger.info(
      { endpoint: this.endpoint(), points: this.config.points.length, requests: this.blocks.length },
      "modbus device configured",
    );
    // The first poll runs now; connection failures are handled inside the loop, so start never throws
    // for an unreachable device: the agent must come up even when a PLC is off.
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.closeClient();
    this.state = "stopped";
  }

  status(): DriverStatus {
    return {
      id: this.id,
      protocol: "modbus-tcp",
      state: this.state,
      connected: this.state === "connected",
      endpoint: this.endpoint(),
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      lastSuccessAt: this.lastSuccessAt,
      counters: { ...this.counters },
    };
  }

  async write(pointId: string, value: SampleValue): Promise<void> {
    const point = this.pointsById.get(pointId);
    if (!point) throw new EdgeError("POINT_UNKNOWN", `device ${this.id} has no point ${pointId}`);
    if (!point.writable) throw new EdgeError("POINT_READ_ONLY", `point ${pointId} is not writable`);
    if (point.table !== "holding") throw new EdgeError("POINT_READ_ONLY", `point ${pointId} is an input register`);
    if (typeof value === "boolean") throw new EdgeError("WRITE_TYPE", `point ${pointId} takes a number, got a boolean`);
    let words: number[];
    try {
      words = encodeRegisters(value, point.type, point.byteOrder);
    } catch (err) {
      throw new EdgeError("WRITE_RANGE", `point ${pointId}: ${errorMessage(err)}`, { cause: err });
    }
    if (this.state !== "connected") throw new EdgeError("DEVICE_OFFLINE", `device ${this.id} is not connected`);
    this.counters.requests++;
    try {
      if (words.length === 1) await this.client.writeRegister(point.register, words[0] ?? 0);
      else await this.client.writeRegisters(point.register, words);
    } catch (err) {
      this.counters.errors++;
      throw new EdgeError("WRITE_FAILED", `writing ${pointId} failed: ${errorMessage(err)}`, { cause: err });
    }
  }

  private endpoint(): string {
    return `tcp://${this.config.host}:${this.config.port} unit ${this.config.unitId}`;
  }

  /** Schedules the next cycle on the poll grid; a cycle that overran skips the slots it missed. */
  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.cycle(), delayMs);
    this.timer.unref?.();
  }

  private async cycle(): Promise<void> {
    if (this.stopped) return;
    if (this.polling) {
      this.counters.overruns++;
      return;
    }
    this.polling = true;
    const started = this.ctx.clock();
    this.counters.polls++;
    try {
      if (await this.ensureConnected()) await this.pollOnce();
    } catch (err) {
      // pollOnce handles its own errors; anything reaching here is a bug, which must not kill the loop.
      this.recordError(err);
    } finally {
      this.polling = false;
      const elapsed = this.ctx.clock() - started;
      const period = this.config.pollMs;
      if (elapsed > period) this.counters.overruns += Math.floor(elapsed / period);
      this.schedule(period - (elapsed % period));
    }
  }

  private async ensureConnected(): Promise<boolean> {
    if (this.state === "connected" && this.client.isOpen) return true;
    if (this.state === "connected") this.markDisconnected("connection closed");
    const now = this.ctx.clock();
    if (now < this.nextConnectAt) return false;
    this.state = "connecting";
    try {
      await this.client.connectTCP(this.config.host, { port: this.config.port });
      this.client.setID(this.config.unitId);
      this.client.setTimeout(this.config.timeoutMs);
      this.state = "connected";
      this.backoff.reset();
      this.unreachableLogged = false;
      this.ctx.logger.info({ endpoint: this.endpoint() }, "modbus device connected");
      return true;
    } catch (err) {
      this.markDisconnected(errorMessage(err));
      return false;
    }
  }

  private markDisconnected(reason: string): void {
    this.state = "disconnected";
    this.recordError(new Error(reason));
    const delay = this.backoff.next();
    this.nextConnectAt = this.ctx.clock() + delay;
    const details = { endpoint: this.endpoint(), reason, retryInMs: delay };
    if (this.unreachableLogged) this.ctx.logger.debug(details, "modbus device still unreachable");
    else this.ctx.logger.warn(details, "modbus device unreachable; retrying with backoff");
    this.unreachableLogged = true;
    void this.closeClient();
    this.emitBad(this.config.points, `disconnected: ${reason}`);
  }

  private async pollOnce(): Promise<void> {
    const samples: Sample[] = [];
    for (const block of this.blocks) {
      this.counters.requests++;
      const ts = this.ctx.clock();
      try {
        const res =
          block.table === "holding"
            ? await this.client.readHoldingRegisters(block.start, block.count)
            : await this.client.readInputRegisters(block.start, block.count);
        for (const { point, offset, width } of block.points) {
          const value = decodeRegisters(res.data.slice(offset, offset + width), point.type, point.byteOrder);
          samples.push({ point: point.id, ts, value, quality: "good" });
          this.badPoints.delete(point.id);
        }
        this.lastSuccessAt = ts;
      } catch (err) {
        this.recordError(err);
        if (!this.client.isOpen) {
          // The socket died under us: report the rest of the device as disconnected, not per block.
          this.deliver(samples);
          this.markDisconnected(errorMessage(err));
          return;
        }
        samples.push(...this.badSamples(block.points.map((p) => p.point), ts, errorMessage(err)));
      }
    }
    this.deliver(samples);
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
    if (samples.length === 0 || !this.sink) return;
    this.counters.samples += samples.length;
    try {
      this.sink(samples);
    } catch (err) {
      // A failing consumer is the runtime's problem to report; the poll loop must go on.
      this.ctx.logger.error({ err }, "sample sink failed");
    }
  }

  private recordError(err: unknown): void {
    this.counters.errors++;
    this.lastError = errorMessage(err);
    this.lastErrorAt = this.ctx.clock();
  }

  private closeClient(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.client.isOpen) return resolve();
      try {
        this.client.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}
