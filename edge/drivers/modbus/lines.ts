import type { SerialConfig } from "./config.js";

interface DeviceLike {
  id: string;
  protocol: string;
  unitId?: number;
  serial?: SerialConfig;
  host?: string;
  port?: number;
  connection?: string;
  maxInFlight?: number;
}

type Problem = { device: number; path: (string | number)[]; message: string };

/** What devices sharing one link must agree on: a setting, where it sits in the config, and what to call it. */
interface SharedLink {
  key: string;
  settings: string;
  path: (string | number)[];
  /** Why the settings do not match, given the first device's. */
  mismatch: (first: string) => string;
}

/** The link a device shares with others, if any: a serial line, a serial-to-TCP server, or a shared Modbus TCP connection. */
const otherLineSettings = () => "other line settings (baud rate, parity, bits must match)";

function sharedLinkOf(d: DeviceLike): SharedLink | undefined {
  if (d.protocol === "modbus-rtu" && d.serial) return { key: `serial ${d.serial.path}`, settings: JSON.stringify(d.serial), path: ["serial"], mismatch: otherLineSettings };
  if (d.protocol === "modbus-rtu-tcp") return { key: `serial server ${d.host}:${d.port}`, settings: JSON.stringify(d.serial ?? {}), path: ["serial"], mismatch: otherLineSettings };
  if (d.protocol === "modbus-tcp" && d.connection === "shared") {
    const mine = String(d.maxInFlight ?? 1);
    return {
      key: `shared connection to ${d.host}:${d.port}`,
      settings: mine,
      path: ["maxInFlight"],
      mismatch: (first) => `maxInFlight ${mine} instead of ${first} (one connection, one limit)`,
    };
  }
  return undefined;
}

/**
 * Devices on one shared link (a serial line by path, a serial-to-TCP server, or a Modbus TCP
 * connection with `connection: shared`, by host and port) must agree on its settings, and each needs
 * its own unit id: two devices with the same unit id on one link are the same device configured
 * twice, most likely by mistake.
 */
export function sharedLinkConflicts(devices: readonly DeviceLike[]): Problem[] {
  const problems: Problem[] = [];
  const links = new Map<string, { index: number; settings: string; units: Map<number, number> }>();
  const name = (i: number) => `devices[${i}] (${devices[i]?.id})`;
  devices.forEach((d, index) => {
    const shared = sharedLinkOf(d);
    if (!shared) return;
    const { key } = shared;
    const unit = d.unitId ?? 1;
    const link = links.get(key);
    if (!link) {
      links.set(key, { index, settings: shared.settings, units: new Map([[unit, index]]) });
      return;
    }
    if (link.settings !== shared.settings) problems.push({ device: index, path: shared.path, message: `is on the ${key} with ${name(link.index)} but has ${shared.mismatch(link.settings)}` });
    const other = link.units.get(unit);
    if (other !== undefined) problems.push({ device: index, path: ["unitId"], message: `unit id ${unit} is already used on the ${key} by ${name(other)}` });
    link.units.set(unit, index);
  });
  return problems;
}
