/**
 * What the simulated device does with one request, whatever carried it: counts it, lets the faults
 * have their say, serves the PDU against the unit's memory and waits out any injected latency. The
 * TCP server and the RTU line share this; they only differ in framing and in how they treat a unit id
 * the profile doesn't define (TCP answers like a gateway, RTU stays silent like an absent slave).
 */
import type { Logger } from "pino";
import type { SimulatedDevice } from "./device.js";
import type { FaultInjector } from "./faults.js";
import { ExceptionCode, exceptionPdu, FunctionCode, handlePdu, isExceptionPdu } from "./pdu.js";

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

export type Outcome = { kind: "reply"; pdu: Buffer; corrupt: boolean } | { kind: "silent" } | { kind: "reset" };

export type Transport = "tcp" | "rtu";

const WRITE_CODES: readonly number[] = [FunctionCode.WriteSingleCoil, FunctionCode.WriteSingleRegister, FunctionCode.WriteMultipleCoils, FunctionCode.WriteMultipleRegisters];

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
  private readonly byFunction = new Map<number, number>();
  private readonly byUnit = new Map<number, number>();
  /** Whole device offline (RTU goes silent; the TCP server also stops listening). */
  offline = false;
  private readonly offlineUnits = new Map<number, NodeJS.Timeout>();
  private readonly sleeping = new Set<{ timer: NodeJS.Timeout; wake: () => void }>();
  private closed = false;

  constructor(
    private readonly device: SimulatedDevice,
    readonly faults: FaultInjector,
    private readonly transport: Transport,
    private readonly logger?: Logger,
  ) {}

  stats(): SimulatorStats {
    return {
      ...this.counters,
      byFunction: Object.fromEntries(this.byFunction),
      byUnit: Object.fromEntries(this.byUnit),
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
    const fc = pdu[0] ?? 0;
    const c = this.counters;
    c.requests++;
    this.byFunction.set(fc, (this.byFunction.get(fc) ?? 0) + 1);
    this.byUnit.set(unitId, (this.byUnit.get(unitId) ?? 0) + 1);

    if (this.offline) {
      c.dropped++;
      return { kind: "silent" };
    }
    if (this.transport === "rtu" && unitId === 0) {
      // Broadcast: every slave executes a write, none answers. Reads make no sense broadcast.
      c.broadcasts++;
      if (WRITE_CODES.includes(fc)) {
        for (const unit of this.device.unitIds()) this.execute(unit, pdu);
      }
      return { kind: "silent" };
    }
    const known = this.device.has(unitId) && !this.offlineUnits.has(unitId);
    if (!known && this.transport === "rtu") {
      if (this.device.has(unitId)) c.dropped++;
      else c.ignored++;
      return { kind: "silent" };
    }

    const decision = this.faults.decide(unitId, pdu);
    let reply: Buffer;
    let corrupt = false;
    switch (decision.action) {
      case "reset":
        c.resets++;
        return { kind: "reset" };
      case "drop":
        c.dropped++;
        return { kind: "silent" };
      case "exception":
        reply = exceptionPdu(fc, decision.code as ExceptionCode);
        break;
      case "serve":
        // TCP: a unit id nobody answers for gets 0x0B, as a gateway says for a silent serial slave.
        reply = known ? this.execute(unitId, pdu) : exceptionPdu(fc, ExceptionCode.GatewayTargetFailedToRespond);
        corrupt = decision.corrupt;
        break;
    }
    if (decision.latencyMs > 0) await this.sleep(decision.latencyMs);
    if (this.closed) return { kind: "silent" };
    c.replies++;
    if (isExceptionPdu(reply)) c.exceptions++;
    if (corrupt) c.corrupted++;
    return { kind: "reply", pdu: reply, corrupt };
  }

  private execute(unitId: number, pdu: Buffer): Buffer {
    const memory = this.device.memory(unitId);
    if (memory === undefined) return exceptionPdu(pdu[0] ?? 0, ExceptionCode.GatewayTargetFailedToRespond);
    return handlePdu(pdu, memory, (table, address, count) => this.device.clientWrote(unitId, table, address, count));
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
