/**
 * The TCP side: accepts any number of clients, reassembles MBAP frames per connection, hands each
 * request to the shared Responder and answers in order, and drops a connection whose byte stream
 * stops being Modbus TCP. Going offline closes the listener and every client, and listens again on
 * the same port afterwards.
 */
import net from "node:net";
import type { Logger } from "pino";
import { EdgeError, errorMessage } from "../../edge/errors.js";
import { encodeFrame, FrameReader, MBAP_HEADER_LENGTH, writeMbapHeader, type FrameHandler, type RequestFrame } from "./frames.js";
import type { Outcome, Responder } from "./responder.js";
import { readIntoBuffer } from "./socket-reads.js";

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

/**
 * Receive buffer shared by every connection (readIntoBuffer): each chunk is parsed and answered
 * before the next read, and FrameReader copies a trailing partial frame out of it.
 */
const RECEIVE_BUFFER_BYTES = 64 * 1024;

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
  const receiveBuffer = Buffer.allocUnsafe(RECEIVE_BUFFER_BYTES);
  // The responder leaves room for the MBAP header before each reply PDU, so a reply goes out as is.
  const inPlace = responder.headroom === MBAP_HEADER_LENGTH;

  const send = (socket: net.Socket, transactionId: number, unitId: number, outcome: Outcome): void => {
    if (socket.destroyed) return;
    if (outcome.kind === "reset") {
      // RST rather than FIN: the client sees ECONNRESET, as when a device or a NAT drops the session.
      socket.resetAndDestroy();
      return;
    }
    if (outcome.kind === "silent") return;
    let frame: Buffer;
    if (outcome.corrupt) frame = encodeFrame(transactionId, unitId, corruptPdu(outcome.pdu));
    else if (inPlace) {
      frame = outcome.frame;
      writeMbapHeader(frame, transactionId, unitId);
    } else frame = encodeFrame(transactionId, unitId, outcome.pdu);
    // A client that sends but never reads must not grow our write buffer without bound.
    if (!socket.write(frame) && !socket.isPaused()) {
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
    let broken = false;
    // Requests on one connection are answered in order, even when latency is injected. A request is
    // handled synchronously as it arrives (no promise per request) unless an earlier reply on this
    // connection is still waiting out its latency: then it waits in `backlog`, PDU copied, and is
    // handled right after that reply goes out.
    let waiting = false;
    let closeWhenIdle = false;
    const backlog: RequestFrame[] = [];

    const drain = (): void => {
      while (!waiting && backlog.length > 0) {
        const frame = backlog.shift() as RequestFrame;
        handleFrame(frame.transactionId, frame.unitId, frame.pdu);
      }
      if (!waiting && closeWhenIdle) socket.destroy();
    };

    const failed = (err: unknown): void => {
      logger?.error({ peer, err: errorMessage(err) }, "modbus request failed");
    };

    const handleFrame = (transactionId: number, unitId: number, pdu: Buffer): void => {
      try {
        const result = responder.handle(unitId, pdu);
        if (result.kind !== "delayed") {
          send(socket, transactionId, unitId, result);
          return;
        }
        waiting = true;
        responder.afterLatency(result).then(
          (outcome) => {
            waiting = false;
            try {
              send(socket, transactionId, unitId, outcome);
            } catch (err) {
              failed(err);
            }
            drain();
          },
          (err: unknown) => {
            waiting = false;
            failed(err);
            drain();
          },
        );
      } catch (err) {
        failed(err);
      }
    };

    const onFrame: FrameHandler = (transactionId, unitId, pdu) => {
      if (waiting) backlog.push({ transactionId, unitId, pdu: Buffer.from(pdu) });
      else handleFrame(transactionId, unitId, pdu);
    };

    readIntoBuffer(socket, receiveBuffer, (chunk) => {
      const error = reader.feed(chunk, onFrame);
      if (error !== undefined && !broken) {
        broken = true;
        responder.counters.framingErrors++;
        logger?.warn({ peer, reason: error }, "closing modbus connection: not a Modbus TCP stream");
        // Answer what came before the garbage, then close.
        closeWhenIdle = true;
        if (!waiting) socket.destroy();
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
