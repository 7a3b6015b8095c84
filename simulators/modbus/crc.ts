/**
 * CRC-16/MODBUS (reflected polynomial 0xA001, initial value 0xFFFF), table-driven. Written here on
 * purpose instead of borrowed from `modbus-serial`: the simulator shares no protocol code with the
 * agent's driver. On the wire the CRC goes low byte first.
 */

const TABLE: Uint16Array = (() => {
  const table = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    table[n] = c;
  }
  return table;
})();

export function crc16Modbus(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ (TABLE[(crc ^ (bytes[i] ?? 0)) & 0xff] ?? 0);
  return crc;
}

/** True when the last two bytes of `frame` are the CRC (low byte first) of everything before them. */
export function hasValidCrc(frame: Uint8Array): boolean {
  if (frame.length < 3) return false;
  const n = frame.length;
  return crc16Modbus(frame, 0, n - 2) === ((frame[n - 2] ?? 0) | ((frame[n - 1] ?? 0) << 8));
}
