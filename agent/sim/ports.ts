import { createServer } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * Starts a listener on the preferred port, or on a free one when that port is taken, and says which.
 * `preferred` 0 always means "any free port".
 */
export async function listenWithFallback<T>(
  preferred: number,
  listen: (port: number) => Promise<T>,
): Promise<{ value: T; fellBack: boolean }> {
  try {
    return { value: await listen(preferred), fellBack: false };
  } catch (err) {
    if (preferred === 0 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    return { value: await listen(0), fellBack: true };
  }
}

/**
 * For a port another process (the agent) will bind: the preferred port if it is free now, else a free
 * one. There is a short race between the probe and the bind, which the agent reports if it loses.
 */
export async function pickPort(host: string, preferred: number): Promise<{ port: number; fellBack: boolean }> {
  const probe = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(port, host, () => {
        const chosen = (server.address() as AddressInfo).port;
        server.close(() => resolve(chosen));
      });
    });
  const { value, fellBack } = await listenWithFallback(preferred, probe);
  return { port: value, fellBack };
}
