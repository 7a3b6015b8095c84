/**
 * Modbus TCP framing (MBAP header), written from the spec on purpose: the simulator must not share
 * protocol code with the agent's driver (which uses `modbus-serial`), or a codec bug would hide in both.
 *
 * MBAP header, 7 bytes, big-endian:
 *   transaction id (2) | protocol id (2, always 0) | length (2, bytes that follow: unit id + PDU) | unit id (1)
 */

/** Bytes before the PDU. */
export const MBAP_HEADER_LENGTH = 7;
/** The spec caps a PDU at 253 bytes (256-byte serial ADU minus address and CRC). */
export const MAX_PDU_LENGTH = 253;

export interface RequestFrame {
  transactionId: number;
  unitId: number;
  /** Function code and data; never empty. */
  pdu: Buffer;
}

export interface PushResult {
  /** Every frame the bytes so far complete, in arrival order. */
  frames: RequestFrame[];
  /**
   * Set when a header can't be Modbus TCP (wrong protocol id, impossible length). After that the
   * stream has no trustworthy frame boundary left, so the caller closes the connection.
   */
  error?: string;
}

/**
 * Called once per complete frame by FrameReader.feed. `pdu` is a view into the receive buffer, valid
 * only during the call: copy it (Buffer.from) to keep it.
 */
export type FrameHandler = (transactionId: number, unitId: number, pdu: Buffer) => void;

const EMPTY = Buffer.alloc(0);

/**
 * Reassembles MBAP frames from a TCP byte stream: TCP keeps no message boundaries, so one chunk may
 * carry several frames and one frame may arrive in several chunks.
 */
export class FrameReader {
  private pending: Buffer = EMPTY;
  private broken: string | undefined;

  /**
   * Hands every frame the bytes so far complete to `onFrame`, in arrival order, without copying
   * them; returns an error (see PushResult.error) once the stream can't be Modbus TCP. Only a
   * trailing partial frame is copied, to wait for the rest.
   */
  feed(chunk: Buffer, onFrame: FrameHandler): string | undefined {
    if (this.broken !== undefined) return this.broken;
    const buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = EMPTY;
    const end = buffer.length;
    let offset = 0;
    // Six bytes are enough to judge the header, so garbage is rejected before we wait for a body
    // that may never come.
    while (end - offset >= 6) {
      const protocolId = (buffer[offset + 2]! << 8) | buffer[offset + 3]!;
      const length = (buffer[offset + 4]! << 8) | buffer[offset + 5]!;
      if (protocolId !== 0) {
        this.broken = `protocol id ${protocolId}, expected 0`;
        return this.broken;
      }
      if (length < 2 || length > MAX_PDU_LENGTH + 1) {
        this.broken = `MBAP length ${length} outside 2..${MAX_PDU_LENGTH + 1}`;
        return this.broken;
      }
      const total = 6 + length;
      if (end - offset < total) break;
      onFrame((buffer[offset]! << 8) | buffer[offset + 1]!, buffer[offset + 6]!, buffer.subarray(offset + MBAP_HEADER_LENGTH, offset + total));
      offset += total;
    }
    // Copy: the partial frame must not pin (or alias) the whole receive chunk.
    if (offset < end) this.pending = Buffer.from(buffer.subarray(offset));
    return undefined;
  }

  /** feed() collecting the frames, each PDU copied so it outlives the chunk. */
  push(chunk: Buffer): PushResult {
    const frames: RequestFrame[] = [];
    const error = this.feed(chunk, (transactionId, unitId, pdu) => frames.push({ transactionId, unitId, pdu: Buffer.from(pdu) }));
    return error !== undefined ? { frames, error } : { frames };
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.pending.length;
  }
}

/** Fills the 7-byte MBAP header at the start of `frame`, whose PDU follows it, echoing the request's transaction and unit ids. */
export function writeMbapHeader(frame: Buffer, transactionId: number, unitId: number): void {
  const length = frame.length - MBAP_HEADER_LENGTH + 1;
  frame[0] = (transactionId >>> 8) & 0xff;
  frame[1] = transactionId & 0xff;
  frame[2] = 0;
  frame[3] = 0;
  frame[4] = length >>> 8;
  frame[5] = length & 0xff;
  frame[6] = unitId & 0xff;
}

/** Wraps a response PDU in an MBAP header that echoes the request's transaction and unit ids. */
export function encodeFrame(transactionId: number, unitId: number, pdu: Buffer): Buffer {
  const frame = Buffer.alloc(MBAP_HEADER_LENGTH + pdu.length);
  pdu.copy(frame, MBAP_HEADER_LENGTH);
  writeMbapHeader(frame, transactionId, unitId);
  return frame;
}
