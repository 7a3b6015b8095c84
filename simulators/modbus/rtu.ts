/**
 * Modbus RTU over a serial device: framing written from the spec (the simulator shares no protocol
 * code with the agent's driver), and the serial line itself through the `serialport` package (I/O
 * only), loaded lazily so the TCP simulator never touches a native module.
 *
 * RTU frame: unit id (1) | PDU | CRC-16/MODBUS (2, low byte first).
 *
 * Frame boundaries: the spec delimits frames by a 3.5-character silence, but a pseudo-terminal (and a
 * USB adapter, and the event loop) blurs timing. So a request is cut by its length, which a slave can
 * always work out from the first bytes: function codes 1-6 are 8 bytes, 15/16 are 9 + byte count. A
 * silence of `frameTimeoutMs` with a partial frame buffered discards it (and ends a frame of an
 * unknown function code, whose length only the silence tells).
 */
import type { Logger } from "pino";
import type { SerialPort } from "serialport";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { crc16Modbus, hasValidCrc } from "./crc.js";
import { MAX_PDU_LENGTH } from "./frames.js";
import { FunctionCode } from "./pdu.js";
import type { Responder } from "./responder.js";

/** Unit id + the largest PDU + CRC. */
export const MAX_RTU_FRAME = 1 + MAX_PDU_LENGTH + 2;
/** Bits per character on the line: start + 8 data + parity or second stop + stop. */
const BITS_PER_CHAR = 11;
/** Below this a partial frame is not declared dead: event-loop and pty jitter are larger than 3.5 chars. */
export const MIN_FRAME_TIMEOUT_MS = 10;

/** 3.5 character times at `baudRate`, but at least MIN_FRAME_TIMEOUT_MS. */
export function rtuFrameTimeoutMs(baudRate: number): number {
  return Math.max(MIN_FRAME_TIMEOUT_MS, Math.ceil((3.5 * BITS_PER_CHAR * 1000) / baudRate));
}

export interface RtuRequest {
  unitId: number;
  pdu: Buffer;
}

export interface RtuReadResult {
  /** Complete frames with a good CRC, in arrival order (unit id and PDU, CRC stripped). */
  frames: RtuRequest[];
  /** Frames discarded for a bad CRC. */
  crcErrors: number;
  /** Partial frames discarded at a silence, and headers no request can have. */
  framingErrors: number;
}

const FIXED_LENGTH: ReadonlySet<number> = new Set([
  FunctionCode.ReadCoils,
  FunctionCode.ReadDiscreteInputs,
  FunctionCode.ReadHoldingRegisters,
  FunctionCode.ReadInputRegisters,
  FunctionCode.WriteSingleCoil,
  FunctionCode.WriteSingleRegister,
]);

/**
 * The length of the request frame at the start of `buf`: a number, "more" when more bytes are needed
 * to tell, "unknown" for a function code whose request length the simulator doesn't know (the
 * silence ends it), or "impossible".
 */
function requestLength(buf: Buffer): number | "more" | "unknown" | "impossible" {
  if (buf.length < 2) return "more";
  const fc = buf[1] ?? 0;
  if (FIXED_LENGTH.has(fc)) return 8;
  if (fc === FunctionCode.MaskWriteRegister) return 10;
  if (fc === FunctionCode.WriteMultipleCoils || fc === FunctionCode.WriteMultipleRegisters) {
    if (buf.length < 7) return "more";
    const total = 9 + (buf[6] ?? 0);
    return total > MAX_RTU_FRAME ? "impossible" : total;
  }
  return "unknown";
}

/** Cuts requests out of the bytes a slave hears; pure, the caller owns the silence timer. */
export class RtuFrameReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): RtuReadResult {
    const result: RtuReadResult = { frames: [], crcErrors: 0, framingErrors: 0 };
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const need = requestLength(buf);
      if (need === "more" || need === "unknown") break;
      if (need === "impossible") {
        // No request starts like this: drop it all and wait for the line to go quiet.
        result.framingErrors++;
        buf = Buffer.alloc(0);
        break;
      }
      if (buf.length < need) {
        if (buf.length > MAX_RTU_FRAME) {
          result.framingErrors++;
          buf = Buffer.alloc(0);
        }
        break;
      }
      this.take(buf.subarray(0, need), result);
      buf = buf.subarray(need);
    }
    if (buf.length > MAX_RTU_FRAME) {
      // An unknown function code that never falls silent: no frame is that long.
      result.framingErrors++;
      buf = Buffer.alloc(0);
    }
    this.pending = Buffer.from(buf);
    return result;
  }

  /** The line has been silent for the inter-frame time: what is buffered is one frame or garbage. */
  silence(): RtuReadResult {
    const result: RtuReadResult = { frames: [], crcErrors: 0, framingErrors: 0 };
    const buf = this.pending;
    this.pending = Buffer.alloc(0);
    if (buf.length === 0) return result;
    if (requestLength(buf) === "unknown" && buf.length >= 4) this.take(buf, result);
    else result.framingErrors++;
    return result;
  }

  get bufferedBytes(): number {
    return this.pending.length;
  }

  private take(frame: Buffer, result: RtuReadResult): void {
    if (!hasValidCrc(frame)) {
      result.crcErrors++;
      return;
    }
    result.frames.push({ unitId: frame[0] ?? 0, pdu: Buffer.from(frame.subarray(1, frame.length - 2)) });
  }
}

/** An RTU frame around a response PDU; `corrupt` sends a CRC that cannot match. */
export function encodeRtuFrame(unitId: number, pdu: Buffer, corrupt = false): Buffer {
  const frame = Buffer.alloc(1 + pdu.length + 2);
  frame[0] = unitId & 0xff;
  pdu.copy(frame, 1);
  const crc = crc16Modbus(frame, 0, frame.length - 2);
  frame.writeUInt16LE(corrupt ? crc ^ 0xffff : crc, frame.length - 2);
  return frame;
}

export interface RtuLineOptions {
  path: string;
  baudRate: number;
  responder: Responder;
  frameTimeoutMs: number;
  logger?: Logger | undefined;
}

export interface RtuLine {
  close(): Promise<void>;
}

/** Opens the serial device and answers the requests heard on it. */
export async function openRtuLine(options: RtuLineOptions): Promise<RtuLine> {
  const { responder, logger, path } = options;
  const { SerialPort: Port } = await import("serialport");
  const port: SerialPort = new Port({ path, baudRate: options.baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (err) reject(new EdgeError("SIM_SERIAL_OPEN", `Modbus RTU simulator cannot open ${path}: ${err.message}`, { cause: err }));
      else resolve();
    });
  });
  responder.counters.connections = 1;

  const reader = new RtuFrameReader();
  let silenceTimer: NodeJS.Timeout | undefined;
  let closed = false;
  // One request at a time, in order, like a half-duplex slave.
  let queue: Promise<void> = Promise.resolve();

  const serve = async (request: RtuRequest): Promise<void> => {
    const outcome = await responder.serve(request.unitId, request.pdu);
    if (outcome.kind !== "reply" || closed || !port.isOpen) return;
    port.write(encodeRtuFrame(request.unitId, outcome.pdu, outcome.corrupt));
  };

  const accept = (result: RtuReadResult): void => {
    responder.counters.crcErrors += result.crcErrors;
    responder.counters.framingErrors += result.framingErrors;
    if (result.crcErrors + result.framingErrors > 0) logger?.debug({ crcErrors: result.crcErrors, framingErrors: result.framingErrors }, "modbus rtu: discarded a bad frame");
    for (const request of result.frames) {
      queue = queue.then(() => serve(request)).catch((err: unknown) => logger?.error({ err: errorMessage(err) }, "modbus rtu request failed"));
    }
  };

  port.on("data", (chunk: Buffer) => {
    accept(reader.push(chunk));
    clearTimeout(silenceTimer);
    if (reader.bufferedBytes > 0) silenceTimer = setTimeout(() => accept(reader.silence()), options.frameTimeoutMs);
  });
  port.on("error", (err) => logger?.warn({ path, err: errorMessage(err) }, "modbus rtu serial port error"));
  port.on("close", () => {
    responder.counters.connections = 0;
    if (!closed) logger?.warn({ path }, "modbus rtu serial port closed under the simulator");
  });

  let closing: Promise<void> | undefined;
  return {
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        clearTimeout(silenceTimer);
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      });
      return closing;
    },
  };
}
