import { connect as netConnect, type Socket } from "node:net";
import { ModbusRequestError } from "./errors.js";
import {
  MBAP_HEADER,
  maskWriteRequest,
  readRequest,
  writeCoilRequest,
  writeCoilsRequest,
  writeRegisterRequest,
  writeRegistersRequest,
  type RequestFrame,
} from "./tcp-requests.js";
import { answerProblem, functionName, readValues, type ReadBitsResult, type ReadRegistersResult, type WriteResult } from "./tcp-answers.js";

export type { ReadBitsResult, ReadRegistersResult, WriteResult } from "./tcp-answers.js";

/**
 * A small Modbus TCP client over `node:net`, written for polling many devices from one event loop:
 * MBAP framing (transaction id, protocol 0, length, unit id), one write per request, responses
 * reassembled from the stream into a reused buffer (split or merged frames alike), and up to
 * `maxInFlight` requests outstanding on the connection, matched by transaction id. Requests beyond
 * that wait in order and are sent as answers come back.
 *
 * Failures reject the request they belong to with a ModbusRequestError whose `kind` says what went
 * wrong: `exception` (the device answered function | 0x80; `modbusCode` holds the code), `timeout`,
 * `corrupt` (an answer that does not fit its request) or `connection`. A frame header the stream
 * cannot be re-synchronised after (protocol id not 0, impossible length) resets the connection.
 *
 * An answer whose transaction id matches no outstanding request (typically a late answer to a request
 * that already timed out) is dropped and counted in `staleResponses`. The unit id of an answer is not
 * checked: gateways and single-unit devices commonly answer with 0 or 255.
 */

export interface ModbusTcpClientOptions {
  host: string;
  port: number;
  /** Unit id of requests until setID changes it. Default 1. */
  unitId?: number;
  /** How long each request waits for its answer, from the moment it is sent; setTimeout changes it. Default 1000. */
  timeoutMs?: number;
  /** How long connect waits for the TCP handshake. Default: timeoutMs, at least 1000. */
  connectTimeoutMs?: number;
  /** Requests outstanding on the connection at once. Default 1 (many PLCs answer one request at a time). */
  maxInFlight?: number;
}

/** One request, from the call until its answer, failure or timeout. */
abstract class Pending {
  tid = 0;
  deadline = 0;
  constructor(
    readonly fc: number,
    /** Registers or bits asked for (reads), or the address (writes, for the result). */
    readonly quantity: number,
    readonly address: number,
    readonly frame: Buffer,
    readonly timeoutMs: number,
  ) {}

  /** The answer, already checked against the request: its PDU starts at `rx[at]` (read it now, `rx` is reused). */
  abstract succeed(rx: Buffer, at: number): void;
  abstract fail(err: Error): void;
}

type Settle = (value: unknown) => void;

/** A request made through the promise API: a fresh frame, settled with a fresh result. */
class PromisedRequest extends Pending {
  constructor(r: RequestFrame, timeoutMs: number, readonly resolve: Settle, readonly reject: (err: Error) => void) {
    super(r.fc, r.quantity, r.address, r.frame, timeoutMs);
  }

  succeed(rx: Buffer, at: number): void {
    if (this.fc > 4) return this.resolve({ address: this.address, quantity: this.quantity });
    const data = new Array<number | boolean>(this.quantity);
    readValues(this.fc, rx, at, this.quantity, data);
    this.resolve({ data });
  }

  fail(err: Error): void {
    this.reject(err);
  }
}

/** How a RepeatingRead ends each time: its values (null on failure) or the error. */
export type RepeatingReadDone = (err: Error | null, values: ReadonlyArray<number | boolean> | null) => void;

/**
 * A read a poller sends again and again (functions 1-4, one unit id, one timeout): its frame and its
 * values array are made once, so a poll allocates nothing for the request. `done` runs synchronously
 * when the answer is parsed (or the request fails); the values array is overwritten by the next answer.
 * Checked like any request: an invalid address or quantity throws here.
 */
export class RepeatingRead extends Pending {
  /** Sent and not yet settled: such a read cannot be sent again. */
  outstanding = false;
  private readonly values: Array<number | boolean>;

  constructor(fc: 1 | 2 | 3 | 4, address: number, quantity: number, unitId: number, timeoutMs: number, private readonly done: RepeatingReadDone) {
    const r = readRequest(fc, address, quantity);
    super(fc, quantity, address, r.frame, timeoutMs);
    this.frame[6] = unitId;
    this.values = new Array<number | boolean>(quantity).fill(0);
  }

  succeed(rx: Buffer, at: number): void {
    this.outstanding = false;
    readValues(this.fc, rx, at, this.quantity, this.values);
    this.done(null, this.values);
  }

  fail(err: Error): void {
    this.outstanding = false;
    this.done(err, null);
  }
}

/** Largest MBAP length field: unit id + a PDU of at most 253 bytes. */
const MAX_MBAP_LENGTH = 254;
/**
 * Every socket reads into this one buffer (Node's `onread`): a read callback runs to completion before
 * the next read of any socket, and each client copies what it needs out of it at once.
 */
const SHARED_READ_BUFFER = Buffer.allocUnsafe(64 * 1024);


export class ModbusTcpClient {
  readonly host: string;
  readonly port: number;
  readonly maxInFlight: number;
  /** Answers that matched no outstanding request (late answers after a timeout), since construction. */
  staleResponses = 0;
  private unitId: number;
  private timeoutMs: number;
  private readonly connectTimeoutMs: number | undefined;
  private socket: Socket | null = null;
  private connecting: { socket: Socket; promise: Promise<void>; abort: (err: Error) => void } | null = null;
  private readonly inFlight = new Map<number, Pending>();
  private readonly waiting: Pending[] = [];
  private waitingHead = 0;
  private nextTid = 1;
  /** Bytes received but not yet consumed as whole frames. */
  private rx: Buffer = Buffer.allocUnsafe(1024);
  private rxLen = 0;
  /** When the incomplete frame now in `rx` began to arrive (performance.now()), 0 when there is none. */
  private partialSince = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** Writes are held until the end of the event-loop turn (maxInFlight > 1 only). */
  private corked = false;

  constructor(options: ModbusTcpClientOptions) {
    this.host = options.host;
    this.port = options.port;
    this.unitId = options.unitId ?? 1;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.connectTimeoutMs = options.connectTimeoutMs;
    const max = options.maxInFlight ?? 1;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxInFlight must be a positive integer, got ${max}`);
    this.maxInFlight = max;
  }

  get isOpen(): boolean {
    return this.socket !== null;
  }

  /** Unit id of the requests made from now on. */
  setID(unitId: number): void {
    this.unitId = unitId;
  }

  /** Answer timeout of the requests made from now on. */
  setTimeout(ms: number): void {
    this.timeoutMs = ms;
  }

  /** Opens the connection (once, however many callers ask at the same time). */
  connect(): Promise<void> {
    if (this.socket) return Promise.resolve();
    if (this.connecting) return this.connecting.promise;
    const where = `${this.host}:${this.port}`;
    let socket!: Socket;
    let settle!: { resolve: () => void; reject: (e: Error) => void };
    const promise = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    const fail = (err: Error) => {
      if (this.connecting?.socket !== socket) return;
      this.connecting = null;
      clearTimeout(timer);
      socket.destroy();
      settle.reject(err);
    };
    socket = netConnect({
      host: this.host,
      port: this.port,
      onread: { buffer: SHARED_READ_BUFFER, callback: (n: number) => this.onRead(socket, n) },
    });
    const connectMs = this.connectTimeoutMs ?? Math.max(1000, this.timeoutMs);
    const timer = setTimeout(
      () => fail(new ModbusRequestError("connection", `connecting to ${where}: no answer within ${connectMs} ms`, { code: "ETIMEDOUT_CONNECT" })),
      connectMs,
    );
    this.connecting = { socket, promise, abort: fail };
    socket.once("connect", () => {
      if (this.connecting?.socket !== socket) return;
      this.connecting = null;
      clearTimeout(timer);
      socket.setNoDelay(true);
      this.socket = socket;
      this.rxLen = 0;
      this.partialSince = 0;
      settle.resolve();
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      const code = err.code;
      if (this.connecting?.socket === socket) {
        fail(new ModbusRequestError("connection", `connecting to ${where}: ${err.message}`, { code, cause: err }));
      } else {
        this.lost(socket, new ModbusRequestError("connection", `connection to ${where} lost: ${err.message}`, { code, cause: err }));
      }
    });
    socket.on("end", () => this.lost(socket, new ModbusRequestError("connection", `connection to ${where} closed by the device`)));
    socket.on("close", () => {
      if (this.connecting?.socket === socket) fail(new ModbusRequestError("connection", `connecting to ${where}: connection closed`));
      this.lost(socket, new ModbusRequestError("connection", `connection to ${where} closed`));
    });
    return promise;
  }

  /** Closes the connection; outstanding requests fail with a connection error. */
  close(): Promise<void> {
    this.connecting?.abort(new ModbusRequestError("connection", `connecting to ${this.host}:${this.port}: closed before the connection was made`));
    const socket = this.socket;
    if (!socket) return Promise.resolve();
    this.lost(socket, new ModbusRequestError("connection", `connection to ${this.host}:${this.port} closed`));
    return new Promise((resolve) => {
      if (socket.closed) return resolve();
      socket.once("close", () => resolve());
    });
  }

  readCoils(address: number, quantity: number): Promise<ReadBitsResult> {
    return this.submit(() => readRequest(1, address, quantity)) as Promise<ReadBitsResult>;
  }

  readDiscreteInputs(address: number, quantity: number): Promise<ReadBitsResult> {
    return this.submit(() => readRequest(2, address, quantity)) as Promise<ReadBitsResult>;
  }

  readHoldingRegisters(address: number, quantity: number): Promise<ReadRegistersResult> {
    return this.submit(() => readRequest(3, address, quantity)) as Promise<ReadRegistersResult>;
  }

  readInputRegisters(address: number, quantity: number): Promise<ReadRegistersResult> {
    return this.submit(() => readRequest(4, address, quantity)) as Promise<ReadRegistersResult>;
  }

  writeCoil(address: number, state: boolean): Promise<WriteResult> {
    return this.submit(() => writeCoilRequest(address, state)) as Promise<WriteResult>;
  }

  writeRegister(address: number, value: number): Promise<WriteResult> {
    return this.submit(() => writeRegisterRequest(address, value)) as Promise<WriteResult>;
  }

  writeCoils(address: number, states: readonly boolean[]): Promise<WriteResult> {
    return this.submit(() => writeCoilsRequest(address, states)) as Promise<WriteResult>;
  }

  writeRegisters(address: number, values: readonly number[]): Promise<WriteResult> {
    return this.submit(() => writeRegistersRequest(address, values)) as Promise<WriteResult>;
  }

  /** Function 22: register = (register AND andMask) OR (orMask AND NOT andMask). */
  maskWriteRegister(address: number, andMask: number, orMask: number): Promise<WriteResult> {
    return this.submit(() => maskWriteRequest(address, andMask, orMask)) as Promise<WriteResult>;
  }

  /**
   * Sends `read` again (with its own unit id and timeout); its outcome goes to its callback. Without a
   * connection it fails at once, synchronously.
   */
  readAgain(read: RepeatingRead): void {
    if (read.outstanding) throw new Error(`${functionName(read.fc)} at ${read.address} is still outstanding`);
    read.outstanding = true;
    if (!this.socket) return read.fail(this.notConnected());
    this.enqueue(read);
  }

  /** Builds the frame (a request that cannot be valid rejects without being sent) and queues it. */
  private submit(build: () => RequestFrame): Promise<unknown> {
    let r: RequestFrame;
    try {
      r = build();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.socket) return Promise.reject(this.notConnected());
    r.frame[6] = this.unitId;
    const timeoutMs = this.timeoutMs;
    return new Promise((resolve, reject) => this.enqueue(new PromisedRequest(r, timeoutMs, resolve, reject)));
  }

  private notConnected(): ModbusRequestError {
    return new ModbusRequestError("connection", `not connected to ${this.host}:${this.port}`, { code: "ENOTCONN" });
  }

  private enqueue(p: Pending): void {
    if (this.inFlight.size < this.maxInFlight && this.waitingHead === this.waiting.length) this.send(p);
    else this.waiting.push(p);
  }

  private send(p: Pending): void {
    const socket = this.socket;
    if (!socket) {
      p.fail(this.notConnected());
      return;
    }
    let tid = this.nextTid;
    while (this.inFlight.has(tid)) tid = (tid + 1) & 0xffff;
    this.nextTid = (tid + 1) & 0xffff;
    p.tid = tid;
    p.frame.writeUInt16BE(tid, 0);
    p.deadline = performance.now() + p.timeoutMs;
    this.inFlight.set(tid, p);
    this.armTimer(p.deadline);
    if (this.maxInFlight > 1 && !this.corked) {
      // Requests made in the same event-loop turn (a poll's reads; on a shared connection, every
      // device whose timer fired in this turn) leave in one write. Not process.nextTick: Node runs
      // those between one timer callback and the next, so each device would get its own write.
      this.corked = true;
      socket.cork();
      setImmediate(this.uncork, socket);
    }
    // A RepeatingRead's frame is reused: while earlier bytes still wait in the socket (a stalled
    // connection, or a corked tick), the stream may hold an older send of this very buffer, so send a copy.
    socket.write(socket.writableLength > 0 && p instanceof RepeatingRead ? Buffer.from(p.frame) : p.frame);
  }

  private readonly uncork = (socket: Socket): void => {
    this.corked = false;
    socket.uncork();
  };

  /** Sends waiting requests while there is room in flight. */
  private pump(): void {
    while (this.waitingHead < this.waiting.length && this.inFlight.size < this.maxInFlight && this.socket) {
      const p = this.waiting[this.waitingHead]!;
      this.waitingHead++;
      this.send(p);
    }
    if (this.waitingHead === this.waiting.length && this.waitingHead > 0) {
      this.waiting.length = 0;
      this.waitingHead = 0;
    }
  }

  // ---- receiving -------------------------------------------------------------------------------

  private onRead(socket: Socket, n: number): boolean {
    if (socket !== this.socket) return true; // a socket we already gave up on
    if (this.rxLen === 0) {
      // The usual case: this read starts with a frame. Parse in place; keep only a trailing partial frame.
      const used = this.parseFrames(socket, SHARED_READ_BUFFER, n);
      if (used < n && this.socket === socket) this.keep(SHARED_READ_BUFFER, used, n);
      return true;
    }
    this.keep(SHARED_READ_BUFFER, 0, n);
    const used = this.parseFrames(socket, this.rx, this.rxLen);
    if (this.socket !== socket) return true;
    if (used > 0) {
      if (used < this.rxLen) this.rx.copyWithin(0, used, this.rxLen);
      this.rxLen -= used;
      this.partialSince = 0;
      if (this.rxLen > 0) this.partialSince = performance.now();
    }
    return true;
  }

  /** Appends `buf[from, to)` to the bytes waiting for the rest of their frame. */
  private keep(buf: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.rxLen + n > this.rx.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.rx.length * 2, this.rxLen + n));
      this.rx.copy(bigger, 0, 0, this.rxLen);
      this.rx = bigger;
    }
    buf.copy(this.rx, this.rxLen, from, to);
    if (this.rxLen === 0) this.partialSince = performance.now();
    this.rxLen += n;
  }

  /**
   * Settles the requests of every whole frame in `buf[0, len)` and returns how many bytes they took
   * (the rest is an incomplete frame). Resets the connection on a header it cannot make sense of.
   */
  private parseFrames(socket: Socket, buf: Buffer, len: number): number {
    let pos = 0;
    let completed = false;
    while (len - pos >= MBAP_HEADER) {
      const protocol = (buf[pos + 2]! << 8) | buf[pos + 3]!;
      const length = (buf[pos + 4]! << 8) | buf[pos + 5]!;
      if (protocol !== 0 || length < 2 || length > MAX_MBAP_LENGTH) {
        // Nothing tells where the next frame starts: start over on a fresh connection.
        const why = protocol !== 0 ? `protocol id ${protocol} instead of 0` : `impossible length ${length}`;
        this.reset(socket, `malformed Modbus TCP frame from ${this.host}:${this.port} (${why}); connection reset to re-synchronise`);
        return len;
      }
      const end = pos + 6 + length;
      if (end > len) break; // the rest of this frame is still on its way
      const tid = (buf[pos]! << 8) | buf[pos + 1]!;
      const p = this.inFlight.get(tid);
      pos = end;
      if (p) {
        this.inFlight.delete(tid);
        this.answer(p, buf, pos - length + 1, length - 1);
        completed = true;
        // A RepeatingRead's callback runs right here and may have closed the connection.
        if (this.socket !== socket) return len;
      } else this.staleResponses++;
    }
    if (completed) this.pump();
    return pos;
  }

  /** Checks one answer against its request and settles it. `at`..`at + pduLength` is the PDU. */
  private answer(p: Pending, rx: Buffer, at: number, pduLength: number): void {
    const problem = answerProblem(p, rx, at, pduLength);
    if (problem === null) return p.succeed(rx, at);
    if (problem instanceof ModbusRequestError) return p.fail(problem);
    p.fail(new ModbusRequestError("corrupt", `malformed answer to ${functionName(p.fc)} from ${this.host}:${this.port}: ${problem}`));
  }

  // ---- timeouts and failures -------------------------------------------------------------------

  /**
   * One timer per client, set for the earliest deadline: answers normally come long before it fires,
   * so a request costs no timer of its own.
   */
  private armTimer(deadline: number): void {
    if (this.timer !== null) {
      if (deadline >= this.timerAt) return;
      clearTimeout(this.timer);
    }
    this.timerAt = deadline;
    // Unref'd: an outstanding request keeps the process alive through its socket, not through this timer.
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(deadline - performance.now()))).unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    // Timers may fire a fraction of a millisecond early; a request due within 1 ms has had its time.
    const now = performance.now() + 1;
    let next = Infinity;
    const expired: Pending[] = [];
    let expiredTimeoutMs = Infinity;
    for (const [tid, p] of this.inFlight) {
      if (p.deadline <= now) {
        this.inFlight.delete(tid);
        expired.push(p);
        expiredTimeoutMs = Math.min(expiredTimeoutMs, p.timeoutMs);
      } else if (p.deadline < next) next = p.deadline;
    }
    // An incomplete frame that has sat in the buffer for half a timeout is not coming together: the
    // rest may never arrive, or arrive glued to the next answer. Start over rather than misread.
    const socket = this.socket;
    if (expired.length > 0 && socket && this.rxLen > 0 && now - this.partialSince >= expiredTimeoutMs / 2) {
      this.reset(socket, `incomplete Modbus TCP frame from ${this.host}:${this.port} (${this.rxLen} bytes for ${Math.round(now - this.partialSince)} ms); connection reset to re-synchronise`);
    } else if (next !== Infinity) this.armTimer(next);
    // Failed only now, after the connection's fate is settled: a RepeatingRead's callback runs inside
    // fail() and may retry at once.
    for (const p of expired) {
      p.fail(
        new ModbusRequestError("timeout", `${functionName(p.fc)} at ${p.address} on ${this.host}:${this.port}: timed out after ${p.timeoutMs} ms (transaction ${p.tid})`, {
          code: "ETIMEDOUT",
        }),
      );
    }
    if (expired.length > 0) this.pump();
  };

  /** Fails everything outstanding on `socket` and forgets the socket. */
  private lost(socket: Socket, err: ModbusRequestError): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.rxLen = 0;
    this.partialSince = 0;
    socket.destroy();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
    const inFlight = [...this.inFlight.values()];
    const waiting = this.waiting.slice(this.waitingHead);
    this.inFlight.clear();
    this.waiting.length = 0;
    this.waitingHead = 0;
    for (const p of inFlight) p.fail(err);
    for (const p of waiting) p.fail(err);
  }

  private reset(socket: Socket, message: string): void {
    this.lost(socket, new ModbusRequestError("corrupt", message));
  }
}
