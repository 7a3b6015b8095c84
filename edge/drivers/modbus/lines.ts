import type { SerialConfig } from "./config.js";

interface DeviceLike {
  id: string;
  protocol: string;
  unitId?: number;
  serial?: SerialConfig;
  host?: string;
  port?: number;
}

/**
 * Devices on one serial line (same path, or the same serial-to-TCP server) share it, so they must
 * agree on its settings and each needs its own unit id.
 */
export function serialLineConflicts(devices: readonly DeviceLike[]): Array<{ device: number; path: (string | number)[]; message: string }> {
  const problems: Array<{ device: number; path: (string | number)[]; message: string }> = [];
  const lines = new Map<string, { index: number; serial: string; units: Map<number, number> }>();
  devices.forEach((d, index) => {
    let key: string | undefined;
    if (d.protocol === "modbus-rtu" && d.serial) key = `serial ${d.serial.path}`;
    else if (d.protocol === "modbus-rtu-tcp") key = `serial server ${d.host}:${d.port}`;
    if (!key) return;
    const serial = JSON.stringify(d.serial ?? {});
    const line = lines.get(key);
    if (!line) {
      lines.set(key, { index, serial, units: new Map([[d.unitId ?? 1, index]]) });
      return;
    }
    if (line.serial !== serial) {
      problems.push({ device: index, path: ["serial"], message: `shares the ${key} with devices[${line.index}] but with other line settings (baud rate, parity, bits must match)` });
    }
    const other = line.units.get(d.unitId ?? 1);
    if (other !== undefined) {
      problems.push({ device: index, path: ["unitId"], message: `unit id ${d.unitId ?? 1} is already used on the ${key} by devices[${other}]` });
    }
    line.units.set(d.unitId ?? 1, index);
  });
  return problems;
}
