/**
 * What the simulated device does with one request, whatever carried it: counts it, lets the faults
 * have their say, serves the PDU against the unit's memory and waits out any injected latency. The
 * TCP server and the RTU line share this; they only differ in framing and in how they treat a unit id
 * the profile doesn't define (TCP answers like a gateway, RTU stays silent like an absent slave).
 */
import type { Logger } from "pino";
import type { SimulatedDevice } from "./device.js";
import type { FaultInjector } from "./faults.js";
import { ExceptionCode, exceptionPdu, FunctionCode, handlePdu, isExceptionPdu, type WriteListener } from "./pdu.js";

export interface SimulatorStats {
  /** TCP: client connections open now. RTU: 1 while the serial device is open. */
  connections: number;
  /** Request frames received intact (CRC good on RTU), whatever happened to them next. */
  requests: number;
  /** The same requests by function code, e.g. `{ "3": 12, "16": 1 }`. */
  byFunction: Record<number, number>;
  /** The same requests by unit id. */
  byUnit: Record<number, number>;
  /** Responses sent (normal and exception, corrupted ones included). */
  replies: number;
  /** Exception responses sent (injected ones included). */
  exceptions: number;
  /** Requests read and left unanswered on purpose: dropRate, or offline on RTU. */
  dropped: number;
  /** RTU: requests for a unit id the profile doesn't define (another slave's business: no reply). */
  ignored: number;
  /** RTU: broadcast requests (unit 0); writes are executed on every unit, nothing is answered. */
  broadcasts: number;
  /** RTU: request frames whose CRC was wrong (discarded, as a real slave does). */
  crcErrors: number;
  /** RTU: partial frames discarded after a silent interval, or impossible lengths. TCP: connections closed for a non-Modbus header. */
  framingErrors: number;
  /** Replies sent with a corrupted frame on purpose (corruptCrc). */
  corrupted: number;
  /** TCP: connections reset on purpose (resetRate/resetNext). RTU: requests swallowed by those faults. */
  resets: number;
  /** The whole device is offline right now (goOffline without a unit). */
  offline: boolean;
  /** Unit ids offline right now (goOffline with a unit). */
  offlineUnits: number[];
}

export type Outcome = Reply | { kind: "silent" } | { kind: "reset" };

/**
 * A response to send. `frame` is the response buffer: `headroom` zeroed bytes the transport may fill
 * with its header (7 on TCP, for the MBAP header; 0 on RTU), then the PDU; `pdu` is that PDU (the
 * same buffer when there is no headroom).
 */
export interface Reply {
  kind: "reply";
  pdu: Buffer;
  corrupt: boolean;
  frame: Buffer;
}

/** The response exists (the request is executed and counted) but must wait `latencyMs` before it goes out: see Responder.afterLatency. */
export interface Delayed {
  kind: "delayed";
  latencyMs: number;
  frame: Buffer;
  corrupt: boolean;
}

export type Transport = "tcp" | "rtu";

/** Bytes reserved before each reply PDU for the transport's header: TCP fills them with the MBAP header. */
export const REPLY_HEADROOM: Readonly<Record<Transport, number>> = { tcp: 7, rtu: 0 };

const WRITE_CODES: readonly number[] = [FunctionCode.WriteSingleCoil, FunctionCode.WriteSingleRegister, FunctionCode.WriteMultipleCoils, FunctionCode.WriteMultipleRegisters];

const SILENT: Outcome = Object.freeze({ kind: "silent" });
const RESET: Outcome = Object.freeze({ kind: "reset" });

/** Requests per function code or per unit id (both one byte), indexed by that byte. */
function byteCounts(counts: Float64Array): Record<number, number> {
  const out: Record<number, number> = {};
  for (let i = 0; i < counts.length; i++) if (counts[i] !== 0) out[i] = counts[i] as number;
  return out;
}

export class Responder {
  readonly counters = {
    connections: 0,
    requests: 0,
    replies: 0,
    exceptions: 0,
    dropped: 0,
    ignored: 0,
    broadcasts: 0,
    crcErrors: 0,
    framingErrors: 0,
    corrupted: 0,
    resets: 0,
  };
  private readonly byFunction = new Float64Array(256);
  private readonly byUnit = new Float64Array(256);
  /** Whole device offline (RTU goes silent; the TCP server also stops listening). */
  offline = false;
  private readonly offlineUnits = new Map<number, NodeJS.Timeout>();
  private readonly sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private closed = false;
  /** Bytes before each reply PDU for the transport's header (REPLY_HEADROOM). */
  readonly headroom: number;
  /** One write listener per unit id, made once rather than per request. */
  private readonly writeListeners = new Map<number, WriteListener>();

  constructor(
    private readonly device: SimulatedDevice,
    readonly faults: FaultInjector,
    private readonly transport: Transport,
    private readonly logger?: Logger,
  ) {
    this.headroom = REPLY_HEADROOM[transport];
    for (const unit of device.unitIds()) {
      this.writeListeners.set(unit, (table, address, count) => device.clientWrote(unit, table, address, count));
    }
  }

  stats(): SimulatorStats {
    return {
      ...this.counters,
      byFunction: byteCounts(this.byFunction),
      byUnit: byteCounts(this.byUnit),
      offline: this.offline,
      offlineUnits: [...this.offlineUnits.keys()].sort((a, b) => a - b),
    };
  }

  /** Takes one unit id offline for `ms` (TCP answers 0x0B for it, RTU stays silent); replaces an earlier timer. */
  unitOffline(unit: number, ms: number): void {
    clearTimeout(this.offlineUnits.get(unit));
    const timer = setTimeout(() => this.offlineUnits.delete(unit), ms);
    timer.unref();
    this.offlineUnits.set(unit, timer);
    this.logger?.info({ unit, seconds: ms / 1000 }, "modbus simulator unit offline");
  }

  unitOnline(unit?: number): void {
    for (const [u, timer] of this.offlineUnits) {
      if (unit !== undefined && u !== unit) continue;
      clearTimeout(timer);
      this.offlineUnits.delete(u);
    }
  }

  /** Serves one request; resolves after any injected latency. */
  async serve(unitId: number, pdu: Buffer): Promise<Outcome> {
    const result = this.handle(unitId, pdu);
    return result.kind === "delayed" ? this.afterLatency(result) : result;
  }

  /**
   * Everything serve() does that needs no waiting, synchronously: counts the request, lets the faults
   * decide, executes it against the unit's memory. Returns the outcome, or, when a latency fault
   * applies, a Delayed to hand to afterLatency(). `pdu` is only read during the call (it may be a
   * view into a receive buffer). The transports call this directly so a request without latency
   * costs no promise.
   */
  handle(unitId: number, pdu: Buffer): Outcome | Delayed {
    const fc = pdu[0] ?? 0;
    const c = this.counters;
    c.requests++;
    (this.byFunction[fc & 0xff] as number)++;
    (this.byUnit[unitId & 0xff] as number)++;

    if (this.offline) {
      c.dropped++;
      return SILENT;
    }
    if (this.transport === "rtu" && unitId === 0) {
      // Broadcast: every slave executes a write, none answers. Reads make no sense broadcast.
      c.broadcasts++;
      if (WRITE_CODES.includes(fc)) {
        for (const unit of this.device.unitIds()) this.execute(unit, pdu);
      }
      return SILENT;
    }
    const known = this.device.has(unitId) && (this.offlineUnits.size === 0 || !this.offlineUnits.has(unitId));
    if (!known && this.transport === "rtu") {
      if (this.device.has(unitId)) c.dropped++;
      else c.ignored++;
      return SILENT;
    }

    const decision = this.faults.decide(unitId, pdu);
    let frame: Buffer;
    let corrupt = false;
    switch (decision.action) {
      case "reset":
        c.resets++;
        return RESET;
      case "drop":
        c.dropped++;
        return SILENT;
      case "exception":
        frame = exceptionPdu(fc, decision.code as ExceptionCode, this.headroom);
        break;
      case "serve":
        // TCP: a unit id nobody answers for gets 0x0B, as a gateway says for a silent serial slave.
        frame = known ? this.execute(unitId, pdu) : exceptionPdu(fc, ExceptionCode.GatewayTargetFailedToRespond, this.headroom);
        corrupt = decision.corrupt;
        break;
    }
    if (decision.latencyMs > 0) return { kind: "delayed", latencyMs: decision.latencyMs, frame, corrupt };
    return this.reply(frame, corrupt);
  }

  /** Waits out a Delayed's latency; its reply, or silence when the responder was closed meanwhile. */
  async afterLatency(delayed: Delayed): Promise<Outcome> {
    await this.sleep(delayed.latencyMs);
    return this.reply(delayed.frame, delayed.corrupt);
  }

  private reply(frame: Buffer, corrupt: boolean): Outcome {
    if (this.closed) return SILENT;
    const c = this.counters;
    const pdu = this.headroom === 0 ? frame : frame.subarray(this.headroom);
    c.replies++;
    if (isExceptionPdu(pdu)) c.exceptions++;
    if (corrupt) c.corrupted++;
    return { kind: "reply", pdu, corrupt, frame };
  }

  private execute(unitId: number, pdu: Buffer): Buffer {
    const memory = this.device.memory(unitId);
    const onWrite = this.writeListeners.get(unitId);
    if (memory === undefined || onWrite === undefined) return exceptionPdu(pdu[0] ?? 0, ExceptionCode.GatewayTargetFailedToRespond, this.headroom);
    return handlePdu(pdu, memory, onWrite, this.headroom);
  }
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        timer: setTimeout(() => {
          this.sleeping.delete(entry);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.sleeping.add(entry);
    });
  }

  /** Ends every pending latency wait (their requests go unanswered) and every offline timer. */
  close(): void {
    this.closed = true;
    for (const entry of this.sleeping) {
      clearTimeout(entry.timer);
      entry.wake();
    }
    this.sleeping.clear();
    this.unitOnline();
  }
}
