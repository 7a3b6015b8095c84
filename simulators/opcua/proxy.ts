/**
 * The simulator's public port: a TCP relay in front of the node-opcua server. It is what lets the
 * simulator misbehave like a real network and a real PLC: every byte towards the client can be delayed
 * (slow responses), every connection cut at once (a network drop), connections refused while the
 * server restarts, and the server behind it replaced without the public port changing.
 */
import { createServer, connect, type Server, type Socket, type AddressInfo } from "node:net";

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Chunks towards the client waiting for their time (latency fault). */
  queue: Array<{ due: number; chunk: Buffer }>;
  timer: NodeJS.Timeout | null;
}

export interface RelayOptions {
  host: string;
  port: number;
}

export class Relay {
  private server: Server | null = null;
  private target: number | null = null;
  private readonly pairs = new Set<Pair>();
  /** Added before each chunk towards the client, in ms. */
  latencyMs = 0;
  /** Connections accepted since start. */
  accepted = 0;
  port = 0;

  constructor(private readonly options: RelayOptions) {}

  async listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    server.on("error", () => undefined);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once("error", onError);
      server.listen(this.options.port, this.options.host, () => {
        server.off("error", onError);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Where connections go; null refuses (closes) every new connection. */
  setTarget(port: number | null): void {
    this.target = port;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Cuts every open connection (both directions), like a cable pulled out. */
  dropAll(): void {
    for (const p of this.pairs) {
      if (p.timer) clearTimeout(p.timer);
      p.queue.length = 0;
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.dropAll();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.on("error", () => undefined);
    if (this.target === null) {
      client.destroy();
      return;
    }
    this.accepted++;
    client.setNoDelay(true);
    const upstream = connect(this.target, "127.0.0.1");
    upstream.setNoDelay(true);
    upstream.on("error", () => undefined);
    const pair: Pair = { client, upstream, queue: [], timer: null };
    this.pairs.add(pair);
    const end = () => {
      if (pair.timer) clearTimeout(pair.timer);
      pair.queue.length = 0;
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("data", (chunk) => {
      if (!upstream.write(chunk)) {
        client.pause();
        upstream.once("drain", () => client.resume());
      }
    });
    upstream.on("data", (chunk: Buffer) => {
      const now = performance.now();
      if (pair.queue.length === 0 && this.latencyMs <= 0) {
        if (!client.write(chunk)) {
          upstream.pause();
          client.once("drain", () => upstream.resume());
        }
        return;
      }
      // One queue per connection, drained in order: a chunk never overtakes an earlier one, even when
      // the latency changes meanwhile (OPC UA checks sequence numbers).
      pair.queue.push({ due: now + this.latencyMs, chunk });
      this.schedule(pair);
    });
  }

  private schedule(pair: Pair): void {
    if (pair.timer || pair.queue.length === 0) return;
    const head = pair.queue[0] as { due: number };
    pair.timer = setTimeout(() => {
      pair.timer = null;
      const now = performance.now();
      while (pair.queue.length > 0 && (pair.queue[0] as { due: number }).due <= now + 1) {
        const { chunk } = pair.queue.shift() as { chunk: Buffer };
        if (!pair.client.destroyed) pair.client.write(chunk);
      }
      this.schedule(pair);
    }, Math.max(0, head.due - performance.now()));
  }
}
