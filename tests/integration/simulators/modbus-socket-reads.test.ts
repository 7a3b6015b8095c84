/**
 * readIntoBuffer: an accepted socket read into one shared buffer (Node's `onread` mode), with
 * pause()/resume() still stopping and restarting reads, and 'data' events when the mode is not
 * available. Also guards the fast mode itself: it rests on Node.js internals, so a Node.js upgrade
 * that removes them shows up here rather than only as a slower benchmark.
 */
import net from "node:net";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { readIntoBuffer } from "../../../simulators/modbus/socket-reads.js";
import { waitFor } from "../../helpers/ports.js";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/** A connection the server accepted, and whether readIntoBuffer put it into the fast mode. */
interface Accepted {
  socket: net.Socket;
  fast: boolean;
}

/** A server whose accepted sockets go through readIntoBuffer into one shared buffer; each chunk is copied as it comes. */
async function serve(buffer: Buffer): Promise<{ port: number; accepted: Accepted[]; chunks: string[] }> {
  const chunks: string[] = [];
  const accepted: Accepted[] = [];
  const server = net.createServer((socket) => {
    const fast = readIntoBuffer(socket, buffer, (chunk) => chunks.push(chunk.toString("latin1")));
    socket.on("error", () => undefined);
    cleanup.push(() => socket.destroy());
    accepted.push({ socket, fast });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => server.close());
  const address = server.address() as net.AddressInfo;
  return { port: address.port, accepted, chunks };
}

const until = (check: () => boolean, what: string) => waitFor(what, check, 3000, 5);

/** The server side of the n-th connection. */
async function accept(s: { accepted: Accepted[] }, n: number): Promise<Accepted> {
  await until(() => s.accepted.length >= n, `connection ${n}`);
  return s.accepted[n - 1] as Accepted;
}

async function connect(port: number): Promise<net.Socket> {
  const client = net.connect(port, "127.0.0.1");
  cleanup.push(() => client.destroy());
  await new Promise<void>((resolve, reject) => client.once("connect", resolve).once("error", reject));
  return client;
}

describe("readIntoBuffer", () => {
  it("reads an accepted socket into the given buffer on this Node.js, several sockets sharing it", async () => {
    const buffer = Buffer.alloc(1024);
    const s = await serve(buffer);
    const a = await connect(s.port);
    const b = await connect(s.port);
    expect((await accept(s, 1)).fast).toBe(true);
    expect((await accept(s, 2)).fast).toBe(true);
    a.write("hello");
    await until(() => s.chunks.join(",") === "hello", "the first chunk");
    expect(buffer.subarray(0, 5).toString("latin1")).toBe("hello");
    b.write("world");
    await until(() => s.chunks.join(",") === "hello,world", "the second socket's chunk");
    expect(buffer.subarray(0, 5).toString("latin1")).toBe("world");
  });

  it("pause() stops the reads and resume() delivers what arrived meanwhile", async () => {
    const s = await serve(Buffer.alloc(1024));
    const client = await connect(s.port);
    const { socket } = await accept(s, 1);
    client.write("one");
    await until(() => s.chunks.join("") === "one", "the first chunk");
    socket.pause();
    client.write("two");
    await new Promise((r) => setTimeout(r, 50));
    expect(s.chunks.join("")).toBe("one");
    socket.resume();
    await until(() => s.chunks.join("") === "onetwo", "the chunk sent while paused");
  });

  it("the end of the stream still closes the socket", async () => {
    const s = await serve(Buffer.alloc(1024));
    const client = await connect(s.port);
    const { socket } = await accept(s, 1);
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    client.end("bye");
    await closed;
    expect(s.chunks.join("")).toBe("bye");
  });

  it("falls back to 'data' events for a stream without the internals", () => {
    const stream = new PassThrough();
    const seen: string[] = [];
    expect(readIntoBuffer(stream as unknown as net.Socket, Buffer.alloc(16), (chunk) => seen.push(chunk.toString()))).toBe(false);
    stream.write("abc");
    expect(seen).toEqual(["abc"]);
  });
});
