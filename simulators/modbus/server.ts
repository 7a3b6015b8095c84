/**
 * The TCP side: accepts any number of clients, reassembles MBAP frames per connection, hands each
 * request to the shared Responder and answers in order, and drops a connection whose byte stream
 * stops being Modbus TCP. Going offline closes the listener and every client, and listens again on
 * the same port afterwards.
 */
import net from "node:net";
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { encodeFrame, FrameReader, type RequestFrame } from "./frames.js";
import type { Responder } from "./responder.js";

export interface ModbusTcpServer {
  readonly host: string;
  readonly port: number;
  /** Closes the listener and every client; listens again after `ms` (or on goOnline). */
  goOffline(ms: number): Promise<void>;
  goOnline(): Promise<void>;
  close(): Promise<void>;
}

export interface ServerOptions {
  host: string;
  port: number;
  responder: Responder;
  logger?: Logger | undefined;
}

/** How often a listener that could not get its port back tries again. */
const RELISTEN_RETRY_MS = 200;

/**
 * corruptCrc on TCP (which has no CRC): the PDU goes out one byte short, inside an MBAP header whose
 * length matches the shortened PDU. The stream stays in step, so the connection lives on, but the
 * client sees a response too short for its request (modbus-serial: "Data length error").
 */
function corruptPdu(pdu: Buffer): Buffer {
  return pdu.subarray(0, Math.max(1, pdu.length - 1));
}

export async function startModbusTcpServer(options: ServerOptions): Promise<ModbusTcpServer> {
  const { responder, logger } = options;
  const sockets = new Set<net.Socket>();

  const serveFrame = async (socket: net.Socket, frame: RequestFrame): Promise<void> => {
    const outcome = await responder.serve(frame.unitId, frame.pdu);
    if (socket.destroyed) return;
    if (outcome.kind === "reset") {
      // RST rather than FIN: the client sees ECONNRESET, as when a device or a NAT drops the session.
      socket.resetAndDestroy();
      return;
    }
    if (outcome.kind === "silent") return;
    const pdu = outcome.corrupt ? corruptPdu(outcome.pdu) : outcome.pdu;
    // A client that sends but never reads must not grow our write buffer without bound.
    if (!socket.write(encodeFrame(frame.transactionId, frame.unitId, pdu)) && !socket.isPaused()) {
      socket.pause();
      socket.once("drain", () => socket.resume());
    }
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    responder.counters.connections = sockets.size;
    const peer = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
    logger?.debug({ peer }, "modbus client connected");
    const reader = new FrameReader();
    socket.setNoDelay(true);
    // Requests on one connection are answered in order, even when latency is injected.
    let queue: Promise<void> = Promise.resolve();
    let broken = false;

    socket.on("data", (chunk: Buffer) => {
      const { frames, error } = reader.push(chunk);
      for (const frame of frames) {
        queue = queue.then(() => serveFrame(socket, frame)).catch((err: unknown) => logger?.error({ peer, err: errorMessage(err) }, "modbus request failed"));
      }
      if (error !== undefined && !broken) {
        broken = true;
        responder.counters.framingErrors++;
        logger?.warn({ peer, reason: error }, "closing modbus connection: not a Modbus TCP stream");
        // Answer what came before the garbage, then close.
        void queue.then(() => socket.destroy());
      }
    });
    socket.on("error", (err) => logger?.debug({ peer, err: errorMessage(err) }, "modbus client socket error"));
    socket.on("close", () => {
      sockets.delete(socket);
      responder.counters.connections = sockets.size;
      logger?.debug({ peer }, "modbus client disconnected");
    });
  });
  server.on("error", (err) => logger?.error({ err: errorMessage(err) }, "modbus simulator server error"));

  const listen = (port: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new EdgeError("SIM_LISTEN", `Modbus simulator cannot listen on ${options.host}:${port}: ${err.message}`, { cause: err }));
      };
      server.once("error", onError);
      server.listen(port, options.host, () => {
        server.off("error", onError);
        resolve();
      });
    });

  await listen(options.port);
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;

  let listening = true;
  let stopped = false;
  let closing: Promise<void> | undefined;
  let onlineTimer: NodeJS.Timeout | undefined;

  const closeListener = (): Promise<void> => {
    if (listening) {
      listening = false;
      closing = new Promise<void>((resolve) => {
        server.close(() => resolve());
        // server.close only stops accepting; open clients would keep it (and the process) alive.
        for (const socket of sockets) socket.destroy();
      });
    }
    return closing ?? Promise.resolve();
  };

  let opening: Promise<void> | undefined;
  const openListener = (): Promise<void> => {
    opening ??= reopen().finally(() => {
      opening = undefined;
    });
    return opening;
  };

  const reopen = async (): Promise<void> => {
    await closing;
    if (listening || stopped || responder.offline) return;
    try {
      await listen(port);
      listening = true;
      if (stopped || responder.offline) {
        await closeListener(); // stopped or sent offline again while the port was being bound
        return;
      }
      logger?.info({ port }, "modbus simulator back online");
    } catch (err) {
      logger?.warn({ port, err: errorMessage(err) }, "modbus simulator cannot listen again yet; retrying");
      clearTimeout(onlineTimer);
      onlineTimer = setTimeout(() => void openListener(), RELISTEN_RETRY_MS);
    }
  };

  const goOnline = async (): Promise<void> => {
    clearTimeout(onlineTimer);
    responder.offline = false;
    await openListener();
  };

  return {
    host: options.host,
    port,
    goOffline: async (ms) => {
      clearTimeout(onlineTimer);
      responder.offline = true;
      logger?.info({ port, seconds: ms / 1000 }, "modbus simulator offline");
      await closeListener();
      if (stopped) return;
      clearTimeout(onlineTimer);
      onlineTimer = setTimeout(() => void goOnline(), ms);
    },
    goOnline,
    close: async () => {
      stopped = true;
      clearTimeout(onlineTimer);
      await closeListener();
    },
  };
}
