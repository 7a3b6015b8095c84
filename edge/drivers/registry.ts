import type { z } from "zod";
import type { Driver, DriverContext } from "./driver.js";
import { modbusTcpDeviceSchema, type ModbusTcpDeviceConfig } from "./modbus/config.js";

/**
 * Every protocol the agent speaks, one entry each: the device config schema (light, loaded always so
 * that configs validate) and a factory that imports the driver itself only when a device needs it, so
 * a Modbus-only gateway never loads an OPC UA stack. Adding a protocol = a folder and one entry here.
 */
export const deviceSchemas = [modbusTcpDeviceSchema] as const;

export type DeviceConfig = z.output<(typeof deviceSchemas)[number]>;

type Factory<C> = (config: C, ctx: DriverContext) => Promise<Driver>;

const factories: { [P in DeviceConfig["protocol"]]: Factory<Extract<DeviceConfig, { protocol: P }>> } = {
  "modbus-tcp": async (config: ModbusTcpDeviceConfig, ctx) => {
    const { ModbusTcpDriver } = await import("./modbus/driver.js");
    return new ModbusTcpDriver(config, ctx);
  },
};

export async function createDriver(config: DeviceConfig, ctx: DriverContext): Promise<Driver> {
  const factory = factories[config.protocol] as Factory<DeviceConfig>;
  return factory(config, ctx);
}
