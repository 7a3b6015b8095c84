import { startEmbeddedBroker } from "../../simulators/broker/aedes-broker.js";
import { findMosquitto, startMosquitto } from "../../simulators/broker/mosquitto.js";
import { freePort } from "../../simulators/broker/net.js";

export interface TestBroker {
  readonly kind: "mosquitto" | "aedes";
  readonly port: number;
  readonly url: string;
  /** Stops the broker (the port stays reserved for start()). */
  stop(): Promise<void>;
  /** Starts it again on the same port, e.g. after an outage. */
  start(): Promise<void>;
}

/**
 * A real Mosquitto on a free loopback port with a throwaway config. Where Mosquitto is not installed
 * the tests fail under CI (CI=true, where .ci/run installs it) and fall back to the embedded aedes
 * broker on a developer's machine, saying so.
 */
export async function startTestBroker(): Promise<TestBroker> {
  const bin = findMosquitto();
  if (bin) return { kind: "mosquitto", ...(await startMosquitto({ bin })) };
  if (process.env.CI) throw new Error("mosquitto is not installed: .ci/run must apt-get install mosquitto");
  process.stderr.write("note: mosquitto not installed, using the embedded aedes broker (apt-get install mosquitto)\n");
  const port = await freePort();
  let broker = await startEmbeddedBroker({ port });
  return {
    kind: "aedes",
    port,
    url: broker.url,
    stop: () => broker.stop(),
    start: async () => {
      broker = await startEmbeddedBroker({ port });
    },
  };
}
