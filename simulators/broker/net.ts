import { createConnection, createServer, type AddressInfo } from "node:net";

/** A TCP port that was free a moment ago, for peers that cannot be told "port 0" (such as Mosquitto). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Whether something accepts TCP connections on host:port right now. */
export function acceptsTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

/** Resolves once something accepts TCP connections on host:port; rejects after timeoutMs or when `abort` names a reason. */
export async function waitForTcp(host: string, port: number, timeoutMs: number, abort?: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = abort?.();
    if (why) throw new Error(why);
    if (await acceptsTcp(host, port)) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted TCP connections on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
