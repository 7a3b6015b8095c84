import type { z } from "zod";
import { modbusRtuDeviceSchema, modbusRtuOverTcpDeviceSchema, modbusTcpDeviceSchema } from "./modbus/config.js";
import { sharedLinkConflicts } from "./modbus/lines.js";
import { opcuaDeviceSchema } from "./opcua/config.js";
import type { DeviceConfig as FactoryDeviceConfig } from "./factory.js";

/**
 * Every protocol the agent speaks: the device config schemas (light: no driver stack) and, in
 * factory.ts, a factory that imports the driver itself only when a device needs it. The schemas use
 * zod, so only config validation (the config worker thread, `validate`) imports this module; the
 * runtime imports factory.ts, keeping zod (~12 MB resident) out of the agent's main thread. Adding a
 * protocol = a folder, its schema here and its factory there.
 */
export const deviceSchemas = [modbusTcpDeviceSchema, modbusRtuOverTcpDeviceSchema, modbusRtuDeviceSchema, opcuaDeviceSchema] as const;

export type DeviceConfig = z.output<(typeof deviceSchemas)[number]>;

// The factory's hand-written union must stay the schemas' output type, both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const deviceConfigMatchesFactory: Same<DeviceConfig, FactoryDeviceConfig> = true;
void deviceConfigMatchesFactory;

export { createDriver } from "./factory.js";

/** A problem that only shows across devices (two devices on one serial line with different settings). */
export interface CrossDeviceProblem {
  device: number;
  path: (string | number)[];
  message: string;
}

/** Checks each protocol makes across the whole device list. */
export const crossDeviceChecks: ReadonlyArray<(devices: readonly DeviceConfig[]) => CrossDeviceProblem[]> = [sharedLinkConflicts];
