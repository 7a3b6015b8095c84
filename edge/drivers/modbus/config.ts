import { z } from "zod";
import { pointBaseSchema } from "../point-schema.js";
import { durationMs, identifier, intRange } from "../../schema-kit.js";

// The plain constants and helpers live in widths.ts, which imports no zod: the codec and the read
// planner use them at run time, and zod costs ~12 MB resident in the agent process (only the config
// worker thread validates). Re-exported here so existing imports keep working.
import { registerTypeWidths, pointWidth, type NumericRegisterType, type RegisterType, type PointType, type ModbusTable } from "./widths.js";
export { registerTypeWidths, pointWidth, type NumericRegisterType, type RegisterType, type PointType, type ModbusTable };

const pointTypes = ["bool", ...Object.keys(registerTypeWidths), "string"] as [PointType, ...PointType[]];

export const modbusPointSchema = pointBaseSchema
  .strict()
  .extend({
    table: z
      .enum(["coil", "discrete", "holding", "input"])
      .default("holding")
      .describe(
        "Modbus table: coil (read 1, write 5/15), discrete (discrete input, read 2), holding (holding register, read 3, write 6/16) or input (input register, read 4).",
      ),
    register: intRange(0, 65535).describe("Zero-based address of the point in its table (the first register of a multi-register value)."),
    type: z
      .enum(pointTypes)
      .optional()
      .describe("How the value is decoded. Default: bool for coils and discrete inputs, uint16 for registers. bool in a register reads one bit (see bit)."),
    bit: intRange(0, 15).optional().describe("For a bool in a holding or input register: which bit (0 = least significant)."),
    length: intRange(1, 125).optional().describe("For a string: how many registers it occupies (2 ASCII characters each, high byte first)."),
    byteOrder: z
      .enum(["ABCD", "CDAB", "BADC", "DCBA"])
      .default("ABCD")
      .describe(
        "Byte and word order of multi-register values. ABCD = big-endian, high word first (the Modbus norm); CDAB = low word first; BADC = bytes swapped in each word; DCBA = fully little-endian. For strings, BADC and DCBA swap the two characters of each register.",
      ),
    pollMs: durationMs(10, 86_400_000).optional().describe("Poll this point at its own interval instead of the device's pollMs."),
  })
  .transform((p) => ({ ...p, type: p.type ?? (p.table === "coil" || p.table === "discrete" ? "bool" : "uint16") }) as typeof p & { type: PointType })
  .superRefine((p, ctx) => {
    const bitTable = p.table === "coil" || p.table === "discrete";
    if (bitTable && p.type !== "bool") {
      ctx.addIssue({ code: "custom", path: ["type"], input: p.type, message: `a ${p.table} holds one bit: type must be bool, got "${p.type}"` });
    }
    if (p.bit !== undefined && (bitTable || p.type !== "bool")) {
      ctx.addIssue({ code: "custom", path: ["bit"], input: p.bit, message: "bit applies only to a bool in a holding or input register" });
    }
    if (p.type === "string" && p.length === undefined) {
      ctx.addIssue({ code: "custom", path: ["length"], input: undefined, message: "a string needs length: how many registers it occupies" });
    }
    if (p.length !== undefined && p.type !== "string") {
      ctx.addIssue({ code: "custom", path: ["length"], input: p.length, message: "length applies only to type string" });
    }
    if (p.writable && (p.table === "discrete" || p.table === "input")) {
      ctx.addIssue({ code: "custom", path: ["writable"], input: true, message: `a ${p.table === "input" ? "input register" : "discrete input"} is read-only in Modbus` });
    }
    const last = p.register + pointWidth(p) - 1;
    if (last > 65535) {
      ctx.addIssue({ code: "custom", path: ["register"], input: p.register, message: `a ${p.type} at register ${p.register} would end at ${last}, past the last address 65535` });
    }
  });

export type ModbusPointConfig = z.output<typeof modbusPointSchema>;

/** Fields every Modbus device has, whatever the transport. */
const commonDeviceFields = {
  id: identifier("a device id").describe("Device id, unique in this configuration."),
  unitId: intRange(0, 255).default(1).describe("Modbus unit id (slave id)."),
  pollMs: durationMs(10, 86_400_000).default(1000).describe("How often the device's points are read (a point's own pollMs overrides it)."),
  timeoutMs: durationMs(10, 60_000).default(1000).describe("How long to wait for each response."),
  retries: intRange(0, 10).default(1).describe("Extra attempts for a request that timed out or arrived corrupted (exceptions are not retried)."),
  maxGap: intRange(0, 124)
    .default(16)
    .describe("Points at most this many registers (or bits) apart are read in one request; the gap is read and thrown away."),
  writeFunction: z
    .enum(["single", "multiple"])
    .default("single")
    .describe("Writes of one coil or register use function 5/6 (single) or 15/16 (multiple; for devices that only implement those)."),
  points: z.array(modbusPointSchema).min(1).describe("What to read from this device."),
};

export const modbusTcpDeviceSchema = z
  .strictObject({
    protocol: z.literal("modbus-tcp").describe("Modbus TCP client."),
    host: z.string().min(1).describe("Host name or IP address of the Modbus TCP server (PLC, gateway)."),
    port: intRange(1, 65535).default(502).describe("TCP port of the Modbus server."),
    maxInFlight: intRange(1, 64)
      .default(1)
      .describe(
        "Requests sent on the connection before their answers arrive, matched by transaction id. 1 (one at a time) suits most PLCs; raise it only for servers known to queue requests (gateways, soft PLCs): the device's reads of one poll then go out together.",
      ),
    connection: z
      .enum(["own", "shared"])
      .default("own")
      .describe(
        "own: the device has a TCP connection of its own. shared: every modbus-tcp device with connection shared and the same host and port uses one connection (a gateway with many unit ids behind one address, often allowing only 1-4 connections); their requests go out concurrently up to maxInFlight (which those devices must agree on, each with its own unit id), requests made at the same moment leave in one write, and answers are matched by transaction id. A timeout or exception of one device fails only its own request, but whatever breaks the connection (it closes, or a malformed frame forces a reset) gives every device on it bad samples until it is back, and a gateway that answers in order lets a slow unit delay the others.",
      ),
    ...commonDeviceFields,
  })
  .describe("A Modbus TCP device.");

export const modbusRtuOverTcpDeviceSchema = z
  .strictObject({
    protocol: z.literal("modbus-rtu-tcp").describe("Modbus RTU frames over a TCP connection (serial device servers such as Moxa NPort in raw mode)."),
    host: z.string().min(1).describe("Host name or IP address of the serial device server."),
    port: intRange(1, 65535).default(4001).describe("TCP port of the serial device server."),
    interFrameDelayMs: durationMs(0, 1000).default(0).describe("Quiet time between one response and the next request on the line."),
    ...commonDeviceFields,
  })
  .describe("A Modbus RTU device reached through a serial-to-TCP server.");

export const serialSchema = z
  .strictObject({
    path: z.string().min(1).describe("Serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/..."),
    baudRate: z
      .union([1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400].map((b) => z.literal(b)) as [z.ZodLiteral<number>, ...z.ZodLiteral<number>[]])
      .default(9600)
      .describe("Baud rate."),
    parity: z.enum(["none", "even", "odd"]).default("none").describe("Parity."),
    dataBits: z.union([z.literal(7), z.literal(8)]).default(8).describe("Data bits."),
    stopBits: z.union([z.literal(1), z.literal(2)]).default(1).describe("Stop bits."),
  })
  .describe("The serial line. Devices on the same path share it: one request at a time.");

export const modbusRtuDeviceSchema = z
  .strictObject({
    protocol: z.literal("modbus-rtu").describe("Modbus RTU over a serial line (RS-485/RS-232)."),
    serial: serialSchema,
    interFrameDelayMs: durationMs(0, 1000)
      .default(5)
      .describe("Quiet time between one response and the next request on the line (at least 3.5 character times)."),
    ...commonDeviceFields,
  })
  .describe("A Modbus RTU device on a serial line.");

export type ModbusTcpDeviceConfig = z.output<typeof modbusTcpDeviceSchema>;
export type ModbusRtuOverTcpDeviceConfig = z.output<typeof modbusRtuOverTcpDeviceSchema>;
export type ModbusRtuDeviceConfig = z.output<typeof modbusRtuDeviceSchema>;
export type ModbusDeviceConfig = ModbusTcpDeviceConfig | ModbusRtuOverTcpDeviceConfig | ModbusRtuDeviceConfig;
export type SerialConfig = z.output<typeof serialSchema>;
