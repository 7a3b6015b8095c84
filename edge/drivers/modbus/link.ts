import { createRequire } from "node:module";
import type modbusSerial from "modbus-serial";
import type { ModbusDeviceConfig, ModbusTable } from "./config.js";
import { ModbusTcpClient, RepeatingRead } from "./tcp-client.js";

// modbus-serial is CommonJS whose typings declare an ES default export; under NodeNext the class is
// reached as `.default` (which the package also sets at run time).
type ModbusSerialClient = InstanceType<(typeof modbusSerial)["default"]>;

/**
 * modbus-serial (and the serialport native module behind it) is loaded on the first RTU line, so a
 * gateway with only Modbus TCP devices never maps it into memory.
 */
function newModbusSerialClient(): ModbusSerialClient {
  const { default: ModbusRTU } = createRequire(import.meta.url)("modbus-serial") as typeof modbusSerial;
  return new ModbusRTU();
}

/**
 * What the driver needs from a Modbus client: our own ModbusTcpClient for `modbus-tcp`, modbus-serial
 * (behind SerialLineClient) for RTU on a serial line or through a serial-to-TCP server.
 * `setID`/`setTimeout` apply to the requests made after them; ModbusLink.run calls them right before
 * the request, in the same tick.
 */
export interface ModbusClient {
  readonly isOpen: boolean;
  connect(): Promise<void>;
  close(): Promise<void>;
  setID(unitId: number): void;
  setTimeout(ms: number): void;
  readCoils(address: number, quantity: number): Promise<{ data: boolean[] }>;
  readDiscreteInputs(address: number, quantity: number): Promise<{ data: boolean[] }>;
  readHoldingRegisters(address: number, quantity: number): Promise<{ data: number[] }>;
  readInputRegisters(address: number, quantity: number): Promise<{ data: number[] }>;
  writeCoil(address: number, state: boolean): Promise<unknown>;
  writeCoils(address: number, states: boolean[]): Promise<unknown>;
  writeRegister(address: number, value: number): Promise<unknown>;
  writeRegisters(address: number, values: number[]): Promise<unknown>;
  maskWriteRegister(address: number, andMask: number, orMask: number): Promise<unknown>;
}

/** modbus-serial's client behind the ModbusClient interface; `open` is how this line connects. */
export class SerialLineClient implements ModbusClient {
  private readonly c: ModbusSerialClient = newModbusSerialClient();

  constructor(private readonly open: (client: ModbusSerialClient) => Promise<void>) {}

  get isOpen(): boolean {
    return this.c.isOpen;
  }

  connect(): Promise<void> {
    return this.open(this.c);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.c.isOpen) return resolve();
      try {
        this.c.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }

  setID(unitId: number): void {
    this.c.setID(unitId);
  }

  setTimeout(ms: number): void {
    this.c.setTimeout(ms);
  }

  readCoils(address: number, quantity: number): Promise<{ data: boolean[] }> {
    return this.c.readCoils(address, quantity);
  }

  readDiscreteInputs(address: number, quantity: number): Promise<{ data: boolean[] }> {
    return this.c.readDiscreteInputs(address, quantity);
  }

  readHoldingRegisters(address: number, quantity: number): Promise<{ data: number[] }> {
    return this.c.readHoldingRegisters(address, quantity);
  }

  readInputRegisters(address: number, quantity: number): Promise<{ data: number[] }> {
    return this.c.readInputRegisters(address, quantity);
  }

  writeCoil(address: number, state: boolean): Promise<unknown> {
    return this.c.writeCoil(address, state);
  }

  writeCoils(address: number, states: boolean[]): Promise<unknown> {
    return this.c.writeCoils(address, states);
  }

  writeRegister(address: number, value: number): Promise<unknown> {
    return this.c.writeRegister(address, value);
  }

  writeRegisters(address: number, values: number[]): Promise<unknown> {
    return this.c.writeRegisters(address, values);
  }

  maskWriteRegister(address: number, andMask: number, orMask: number): Promise<unknown> {
    return this.c.maskWriteRegister(address, andMask, orMask);
  }
}

/**
 * One Modbus connection: a TCP socket (one device's, or shared by the devices of one endpoint), or a serial line (direct or through a serial-to-TCP server)
 * shared by every device on it.
 *
 * On a serial line (`exclusive`) requests take turns, one at a time, because RTU has no transaction
 * ids and a line carries one frame at a time; the turn also keeps the quiet time between frames. A
 * Modbus TCP client matches answers by transaction id and limits requests in flight itself
 * (`maxInFlight`), so its requests go straight to it.
 */
export class ModbusLink {
  /** Requests the link carries at once: 1 on a serial line, the client's maxInFlight on TCP. */
  readonly maxInFlight: number;
  private readonly exclusive: boolean;
  private readonly interFrameDelayMs: number;
  /** Requests waiting for their turn on an exclusive line (FIFO). */
  private readonly turns: Array<() => void> = [];
  private busy = false;
  private connecting: Promise<void> | null = null;
  private lastDone = 0;

  constructor(
    readonly endpoint: string,
    readonly client: ModbusClient,
    options: { exclusive: boolean; interFrameDelayMs?: number; maxInFlight?: number },
  ) {
    this.exclusive = options.exclusive;
    this.interFrameDelayMs = options.interFrameDelayMs ?? 0;
    this.maxInFlight = options.exclusive ? 1 : (options.maxInFlight ?? 1);
  }

  get isOpen(): boolean {
    return this.client.isOpen;
  }

  /** Opens the connection once, however many devices ask at the same time. */
  connect(): Promise<void> {
    if (this.client.isOpen) return Promise.resolve();
    this.connecting ??= this.client.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /** Runs one request for `unitId` (on a serial line, when the line is free); the caller sees its own result or error. */
  run<T>(unitId: number, timeoutMs: number, request: (client: ModbusClient) => Promise<T>): Promise<T> {
    if (!this.exclusive) return this.start(unitId, timeoutMs, request);
    if (!this.busy && (this.interFrameDelayMs <= 0 || Date.now() >= this.lastDone + this.interFrameDelayMs)) {
      // The line is idle and has had its quiet time: go now, without a turn through the queue.
      this.busy = true;
      return this.start(unitId, timeoutMs, request).finally(this.done);
    }
    return new Promise<void>((resolve) => {
      this.turns.push(resolve);
      if (!this.busy) this.next();
    }).then(() => this.start(unitId, timeoutMs, request).finally(this.done));
  }

  close(): Promise<void> {
    return this.client.close();
  }

  /**
   * A read a poller repeats: returns the function that sends it again, each time answered through
   * `done` (exactly once per send, possibly synchronously). On our TCP client the request is built
   * once and answered straight from the receive buffer, without a promise; the values array it passes
   * is then reused, so read it before the next send. Other clients go through run().
   */
  repeatedRead(unitId: number, timeoutMs: number, table: ModbusTable, start: number, count: number, done: ReadDone): () => void {
    const client = this.client;
    if (client instanceof ModbusTcpClient) {
      let read: RepeatingRead;
      try {
        read = new RepeatingRead(FUNCTION_OF_TABLE[table], start, count, unitId, timeoutMs, done);
      } catch (err) {
        // A read that cannot be valid fails every time, as it would through run().
        return () => done(err, null);
      }
      return () => client.readAgain(read);
    }
    const request = readerFor(table, start, count);
    return () => {
      this.run(unitId, timeoutMs, request).then(
        (r) => done(null, r.data),
        (err: unknown) => done(err, null),
      );
    };
  }

  private start<T>(unitId: number, timeoutMs: number, request: (client: ModbusClient) => Promise<T>): Promise<T> {
    this.client.setID(unitId);
    this.client.setTimeout(timeoutMs);
    try {
      return request(this.client);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private readonly done = (): void => {
    this.lastDone = Date.now();
    this.busy = false;
    this.next();
  };

  /** Hands the line to the next waiting request, after the quiet time. */
  private next(): void {
    if (this.busy || this.turns.length === 0) return;
    this.busy = true;
    const quiet = this.lastDone + this.interFrameDelayMs - Date.now();
    const go = () => this.turns.shift()?.();
    if (quiet > 0) setTimeout(go, quiet);
    else go();
  }
}

/**
 * How a repeated read ends each time: its values, or (values null) the error as the client threw it,
 * which may be anything from modbus-serial: the driver classifies it by its fields.
 */
export type ReadDone = (err: unknown, values: ReadonlyArray<number | boolean> | null) => void;

const FUNCTION_OF_TABLE = { coil: 1, discrete: 2, holding: 3, input: 4 } as const satisfies Record<ModbusTable, 1 | 2 | 3 | 4>;

/** The request that reads `count` registers or bits of `table` from `start`. */
function readerFor(table: ModbusTable, start: number, count: number): (c: ModbusClient) => Promise<{ data: ReadonlyArray<number | boolean> }> {
  switch (table) {
    case "holding":
      return (c) => c.readHoldingRegisters(start, count);
    case "input":
      return (c) => c.readInputRegisters(start, count);
    case "coil":
      return (c) => c.readCoils(start, count);
    case "discrete":
      return (c) => c.readDiscreteInputs(start, count);
  }
}

/**
 * The key under which devices share a link: a serial line is shared, a TCP connection is per device
 * unless the device asks for the endpoint's shared one (`connection: shared`).
 */
export function linkKey(config: ModbusDeviceConfig): string {
  switch (config.protocol) {
    case "modbus-tcp":
      return `tcp://${config.host}:${config.port}#${config.connection === "shared" ? "shared" : config.id}`;
    case "modbus-rtu-tcp":
      return `rtu-tcp://${config.host}:${config.port}`;
    case "modbus-rtu":
      return `rtu://${config.serial.path}`;
  }
}

export function createLink(config: ModbusDeviceConfig): ModbusLink {
  switch (config.protocol) {
    case "modbus-tcp": {
      const client = new ModbusTcpClient({
        host: config.host,
        port: config.port,
        unitId: config.unitId,
        timeoutMs: config.timeoutMs,
        maxInFlight: config.maxInFlight,
      });
      return new ModbusLink(`tcp://${config.host}:${config.port}`, client, { exclusive: false, maxInFlight: client.maxInFlight });
    }
    case "modbus-rtu-tcp":
      return new ModbusLink(`rtu-tcp://${config.host}:${config.port}`, new SerialLineClient((c) => c.connectTcpRTUBuffered(config.host, { port: config.port })), {
        exclusive: true,
        interFrameDelayMs: config.interFrameDelayMs,
      });
    case "modbus-rtu": {
      const s = config.serial;
      return new ModbusLink(
        `rtu://${s.path}`,
        new SerialLineClient((c) => c.connectRTUBuffered(s.path, { baudRate: s.baudRate, parity: s.parity, dataBits: s.dataBits, stopBits: s.stopBits })),
        { exclusive: true, interFrameDelayMs: config.interFrameDelayMs },
      );
    }
  }
}
