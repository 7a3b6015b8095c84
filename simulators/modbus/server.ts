/**
 * The TCP side: accepts any number of clients, reassembles frames per connection, answers each
 * request in order, and drops a connection whose byte stream stops being Modbus TCP.
 */
import net from "node:net";
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import type { SimulatedDevice } from "./device.js";
import { encodeFrame, FrameReader, type RequestFrame } from "./frames.js";
import { ExceptionCode, exceptionPdu, handlePdu, isExceptionPdu } from "./pdu.js";

export interface ServerStats {
  /** Client connections open right now. */
  connections: number;
  /** Complete request frames served since start (exception answers included). */
  requests: number;
  /** Exception responses sent since start. */
  exceptions: number;
}

export interface ModbusTcpServer {
  readonly host: string;
  readonly port: number;
  stats(): ServerStats;
  close(): Promise<void>;
}

export interface ServerOptions {
  host: string;
  port: number;
  device: SimulatedDevice;
  logger?: Logger | undefined;
}

export async function startModbusTcpServer(options: ServerOptions): Promise<ModbusTcpServer> {
  const { device, logger } = options;
  const sockets = new Set<net.Socket>();
  const counters = { requests: 0, exceptions: 0 };

  const respond = (frame: RequestFrame): Buffer => {
    counters.requests++;
    const memory = device.memory(frame.unitId);
    const pdu =
      memory === undefined
        ? exceptionPdu(frame.pdu[0] ?? 0, ExceptionCode.GatewayTargetFailedToRespond)
        : handlePdu(frame.pdu, memory, (table, address, count) => device.clientWrote(frame.unitId, table, address, count));
    if (isExceptionPdu(pdu)) counters.exceptions++;
    return encodeFrame(frame.transactionId, frame.unitId, pdu);
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    const peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    logger?.debug({ peer }, "modbus client connected");
    const reader = new FrameReader();
    socket.setNoDelay(true);

    socket.on("data", (chunk: Buffer) => {
      const { frames, error } = reader.push(chunk);
      for (const frame of frames) {
        if (socket.destroyed) return;
        // A client that sends but never reads must not grow our write buffer without bound.
        if (!socket.write(respond(frame)) && !socket.isPaused()) {
          socket.pause();
          socket.once("drain", () => socket.resume());
        }
      }
      if (error !== undefined) {
        logger?.warn({ peer, reason: error }, "closing modbus connection: not a Modbus TCP stream");
        socket.destroy();
      }
    });
    socket.on("error", (err) => logger?.debug({ peer, err: errorMessage(err) }, "modbus client socket error"));
    socket.on("close", () => {
      sockets.delete(socket);
      logger?.debug({ peer }, "modbus client disconnected");
    });
  });
  server.on("error", (err) => logger?.error({ err: errorMessage(err) }, "modbus simulator server error"));

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new EdgeError("SIM_LISTEN", `Modbus simulator cannot listen on ${options.host}:${options.port}: ${err.message}`, { cause: err }));
    };
    server.once("error", onError);
    server.listen(options.port, options.host, () => {
      server.off("error", onError);
      resolve();
    });
  });

  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  let closing: Promise<void> | undefined;

  return {
    host: options.host,
    port,
    stats: () => ({ connections: sockets.size, ...counters }),
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // server.close only stops accepting; open clients would keep it (and the process) alive.
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
