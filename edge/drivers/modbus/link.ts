import modbusSerial from "modbus-serial";
import type { ModbusDeviceConfig } from "./config.js";

// modbus-serial is CommonJS whose typings declare an ES default export; under NodeNext the class is
// reached as `.default` (which the package also sets at run time).
const ModbusRTU = modbusSerial.default;
export type ModbusClient = InstanceType<typeof ModbusRTU>;

/**
 * One Modbus connection: a TCP socket, or a serial line (direct or through a serial-to-TCP server)
 * shared by every device on it. Requests go through a queue, one at a time, because RTU has no
 * transaction ids and a line carries one frame at a time; on RTU the queue also keeps the quiet time
 * between frames.
 */
export class ModbusLink {
  readonly client: ModbusClient = new ModbusRTU();
  private queue: Promise<unknown> = Promise.resolve();
  private connecting: Promise<void> | null = null;
  private lastDone = 0;

  constructor(
    readonly endpoint: string,
    private readonly open: (client: ModbusClient) => Promise<void>,
    private readonly interFrameDelayMs: number,
  ) {}

  get isOpen(): boolean {
    return this.client.isOpen;
  }

  /** Opens the connection once, however many devices ask at the same time. */
  connect(): Promise<void> {
    if (this.client.isOpen) return Promise.resolve();
    this.connecting ??= this.open(this.client).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /** Runs one request for `unitId` when the line is free; the caller sees its own result or error. */
  run<T>(unitId: number, timeoutMs: number, request: (client: ModbusClient) => Promise<T>): Promise<T> {
    const turn = this.queue.then(async () => {
      const quiet = this.lastDone + this.interFrameDelayMs - Date.now();
      if (quiet > 0) await new Promise((r) => setTimeout(r, quiet));
      this.client.setID(unitId);
      this.client.setTimeout(timeoutMs);
      try {
        return await request(this.client);
      } finally {
        this.lastDone = Date.now();
      }
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.client.isOpen) return resolve();
      try {
        this.client.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/** The key under which devices share a link: a serial line is shared, a TCP connection is per device. */
export function linkKey(config: ModbusDeviceConfig): string {
  switch (config.protocol) {
    case "modbus-tcp":
      return `tcp://${config.host}:${config.port}#${config.id}`;
    case "modbus-rtu-tcp":
      return `rtu-tcp://${config.host}:${config.port}`;
    case "modbus-rtu":
      return `rtu://${config.serial.path}`;
  }
}

export function createLink(config: ModbusDeviceConfig): ModbusLink {
  switch (config.protocol) {
    case "modbus-tcp":
      return new ModbusLink(`tcp://${config.host}:${config.port}`, (c) => c.connectTCP(config.host, { port: config.port }), 0);
    case "modbus-rtu-tcp":
      return new ModbusLink(
        `rtu-tcp://${config.host}:${config.port}`,
        (c) => c.connectTcpRTUBuffered(config.host, { port: config.port }),
        config.interFrameDelayMs,
      );
    case "modbus-rtu": {
      const s = config.serial;
      return new ModbusLink(
        `rtu://${s.path}`,
        (c) => c.connectRTUBuffered(s.path, { baudRate: s.baudRate, parity: s.parity, dataBits: s.dataBits, stopBits: s.stopBits }),
        config.interFrameDelayMs,
      );
    }
  }
}
