import { z } from "zod";
import { pointBaseSchema } from "../point-schema.js";
import { durationMs, identifier, intRange } from "../../schema-kit.js";

/** Register data types and how many 16-bit registers each occupies. */
export const registerTypeWidths = {
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  int64: 4,
  uint64: 4,
  float64: 4,
} as const;

export type RegisterType = keyof typeof registerTypeWidths;

const registerTypes = Object.keys(registerTypeWidths) as [RegisterType, ...RegisterType[]];

export const modbusPointSchema = pointBaseSchema
  .strict()
  .extend({
  table: z
    .enum(["holding", "input"])
    .default("holding")
    .describe("Register table: holding (function 3, writable with 6/16) or input (function 4, read-only)."),
  register: intRange(0, 65535).describe("Zero-based register address of the first register of the value."),
  type: z.enum(registerTypes).default("uint16").describe("How the register(s) are decoded."),
  byteOrder: z
    .enum(["ABCD", "CDAB", "BADC", "DCBA"])
    .default("ABCD")
    .describe(
      "Byte and word order of multi-register values. ABCD = big-endian, high word first (the Modbus norm); CDAB = low word first; BADC = bytes swapped in each word; DCBA = fully little-endian.",
    ),
  })
  .superRefine((p, ctx) => {
    const last = p.register + registerTypeWidths[p.type] - 1;
    if (last > 65535) {
      ctx.addIssue({ code: "custom", path: ["register"], input: p.register, message: `a ${p.type} at register ${p.register} would end at ${last}, past the last register 65535` });
    }
  });

export type ModbusPointConfig = z.output<typeof modbusPointSchema>;

export const modbusTcpDeviceSchema = z
  .strictObject({
    id: identifier("a device id").describe("Device id, unique in this configuration."),
    protocol: z.literal("modbus-tcp").describe("Modbus TCP client."),
    host: z.string().min(1).describe("Host name or IP address of the Modbus TCP server (PLC, gateway)."),
    port: intRange(1, 65535).default(502).describe("TCP port of the Modbus server."),
    unitId: intRange(0, 255).default(1).describe("Modbus unit id (slave id)."),
    pollMs: durationMs(10, 86_400_000).default(1000).describe("How often every point of this device is read."),
    timeoutMs: durationMs(10, 60_000).default(1000).describe("How long to wait for each response."),
    maxGap: intRange(0, 124)
      .default(16)
      .describe("Points whose registers are at most this many registers apart are read in one request."),
    points: z.array(modbusPointSchema).min(1).describe("What to read from this device."),
  })
  .describe("A Modbus TCP device.");

export type ModbusTcpDeviceConfig = z.output<typeof modbusTcpDeviceSchema>;
