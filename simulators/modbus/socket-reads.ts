/**
 * Reading an accepted socket into one buffer the caller owns, instead of a fresh buffer per read.
 *
 * Node.js has this mode built in: the `onread: { buffer, callback }` option reads every chunk into
 * `buffer` and calls `callback` straight from the read, with no Readable stream in between. But only
 * sockets created by net.connect / new net.Socket take that option; net.createServer has none, so an
 * accepted socket pays, per read, for a 64 KiB allocation shrunk to the bytes read, a new ArrayBuffer,
 * and Readable.push / 'data' / maybeReadMore. With the simulator's request-reply traffic that is one
 * read per request, and a sixth or so of its CPU time per request (measured with the load of
 * `npm run bench -- modbus-sim`).
 *
 * readIntoBuffer puts an accepted socket into that same mode by setting what the option sets (the
 * socket's own kBuffer and kBufferCb fields) and making the handle call it makes (useUserBuffer).
 * Node's own code then does the rest, including pause()/resume(), which honour the mode. Those names
 * are Node.js internals, so each is looked for first; when one is missing (another Node.js version)
 * the socket is read through 'data' events as before, with the same handler.
 */
import type net from "node:net";

/** The bytes of one read. A view into the shared buffer in the fast mode: valid only during the call. */
export type ChunkHandler = (chunk: Buffer) => void;

/** The stream handle method behind the `onread` option. */
interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/** Node's private fields for the `onread` option, found by their symbols' descriptions. */
function onreadFields(socket: net.Socket): { buffer: symbol; callback: symbol; generator: symbol } | undefined {
  const symbols = Object.getOwnPropertySymbols(socket);
  const find = (name: string) => symbols.find((s) => s.description === name);
  const buffer = find("kBuffer");
  const callback = find("kBufferCb");
  const generator = find("kBufferGen");
  return buffer && callback && generator ? { buffer, callback, generator } : undefined;
}

function userBufferHandle(socket: net.Socket): UserBufferHandle | undefined {
  // `_handle` is undocumented but has been the socket's libuv handle since the early days of Node.js.
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  return handle && typeof handle.useUserBuffer === "function" ? (handle as UserBufferHandle) : undefined;
}

/**
 * Calls `onChunk` with every chunk `socket` reads, read into `buffer` when this Node.js allows it
 * (returns true), else from 'data' events (returns false). One buffer can serve every socket of a
 * server: each chunk is handed over and dealt with synchronously, before the next read.
 * Call it in the 'connection' listener, before any data has been read.
 */
export function readIntoBuffer(socket: net.Socket, buffer: Buffer, onChunk: ChunkHandler): boolean {
  const fields = onreadFields(socket);
  const handle = userBufferHandle(socket);
  const own = socket as unknown as Record<symbol, unknown>;
  if (fields === undefined || handle === undefined || own[fields.buffer] !== null || own[fields.generator] !== null) {
    socket.on("data", onChunk);
    return false;
  }
  own[fields.buffer] = buffer;
  own[fields.callback] = (bytes: number): void => onChunk(buffer.subarray(0, bytes));
  handle.useUserBuffer(buffer);
  return true;
}
