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
 * Reassembles MBAP frames from a TCP byte stream: TCP keeps no message boundaries, so one chunk may
 * carry several frames and one frame may arrive in several chunks.
 */
export class FrameReader {
  private pending: Buffer = Buffer.alloc(0);
  private broken: string | undefined;

  push(chunk: Buffer): PushResult {
    if (this.broken !== undefined) return { frames: [], error: this.broken };
    const buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const frames: RequestFrame[] = [];
    let offset = 0;
    // Six bytes are enough to judge the header, so garbage is rejected before we wait for a body
    // that may never come.
    while (buffer.length - offset >= 6) {
      const protocolId = buffer.readUInt16BE(offset + 2);
      const length = buffer.readUInt16BE(offset + 4);
      if (protocolId !== 0) {
        this.broken = `protocol id ${protocolId}, expected 0`;
        break;
      }
      if (length < 2 || length > MAX_PDU_LENGTH + 1) {
        this.broken = `MBAP length ${length} outside 2..${MAX_PDU_LENGTH + 1}`;
        break;
      }
      const total = 6 + length;
      if (buffer.length - offset < total) break;
      frames.push({
        transactionId: buffer.readUInt16BE(offset),
        unitId: buffer.readUInt8(offset + 6),
        // Copy: the PDU must not pin (or alias) the whole receive chunk.
        pdu: Buffer.from(buffer.subarray(offset + MBAP_HEADER_LENGTH, offset + total)),
      });
      offset += total;
    }
    this.pending = this.broken !== undefined ? Buffer.alloc(0) : Buffer.from(buffer.subarray(offset));
    return this.broken !== undefined ? { frames, error: this.broken } : { frames };
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.pending.length;
  }
}

/** Wraps a response PDU in an MBAP header that echoes the request's transaction and unit ids. */
export function encodeFrame(transactionId: number, unitId: number, pdu: Buffer): Buffer {
  const frame = Buffer.alloc(MBAP_HEADER_LENGTH + pdu.length);
  frame.writeUInt16BE(transactionId & 0xffff, 0);
  frame.writeUInt16BE(0, 2);
  frame.writeUInt16BE(pdu.length + 1, 4);
  frame.writeUInt8(unitId & 0xff, 6);
  pdu.copy(frame, MBAP_HEADER_LENGTH);
  return frame;
}
