import type { Driver, DriverContext } from "./driver.js";
import type { ModbusDeviceConfig } from "./modbus/config.js";
import type { OpcuaDeviceConfig } from "./opcua/config.js";

/**
 * The driver factory, apart from the device config schemas in registry.ts: the runtime creates drivers
 * in the agent's main thread, which does not load zod (~12 MB resident); only the config worker thread
 * validates. Everything from the config modules here is `import type` (erased at compile time). Each
 * driver itself is imported only when a device needs it, so a Modbus-only gateway never loads an OPC UA
 * stack.
 */
export type DeviceConfig = ModbusDeviceConfig | OpcuaDeviceConfig;

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
