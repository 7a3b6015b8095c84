import type { z } from "zod";
import type { Driver, DriverContext } from "./driver.js";
import { modbusRtuDeviceSchema, modbusRtuOverTcpDeviceSchema, modbusTcpDeviceSchema, type ModbusDeviceConfig } from "./modbus/config.js";
import { sharedLinkConflicts } from "./modbus/lines.js";
import { opcuaDeviceSchema, type OpcuaDeviceConfig } from "./opcua/config.js";

/**
 * Every protocol the agent speaks: the device config schemas (light, loaded always so that configs
 * validate) and a factory that imports the driver itself only when a device needs it, so a Modbus-only
 * gateway never loads an OPC UA stack. Adding a protocol = a folder and its entries here.
 */
export const deviceSchemas = [modbusTcpDeviceSchema, modbusRtuOverTcpDeviceSchema, modbusRtuDeviceSchema, opcuaDeviceSchema] as const;

export type DeviceConfig = z.output<(typeof deviceSchemas)[number]>;

type Factory<C> = (config: C, ctx: DriverContext) => Promise<Driver>;

const modbus: Factory<ModbusDeviceConfig> = async (config, ctx) => {
  const { ModbusDriver } = await import("./modbus/driver.js");
  return new ModbusDriver(config, ctx);
};

const opcua: Factory<OpcuaDeviceConfig> = async (config, ctx) => {
  const { OpcuaDriver } = await import("./opcua/driver.js");
  return new OpcuaDriver(config, ctx);
};

const factories: { [P in DeviceConfig["protocol"]]: Factory<Extract<DeviceConfig, { protocol: P }>> } = {
  "modbus-tcp": modbus,
  "modbus-rtu-tcp": modbus,
  "modbus-rtu": modbus,
  opcua,
};

export async function createDriver(config: DeviceConfig, ctx: DriverContext): Promise<Driver> {
  const factory = factories[config.protocol] as Factory<DeviceConfig>;
  return factory(config, ctx);
}

/** A problem that only shows across devices (two devices on one serial line with different settings). */
export interface CrossDeviceProblem {
  device: number;
  path: (string | number)[];
  message: string;
}

/** Checks each protocol makes across the whole device list. */
export const crossDeviceChecks: ReadonlyArray<(devices: readonly DeviceConfig[]) => CrossDeviceProblem[]> = [sharedLinkConflicts];
