import { startEmbeddedBroker } from "../../simulators/broker/aedes-broker.js";
import { findMosquitto, mosquittoVersion, startMosquitto } from "../../simulators/broker/mosquitto.js";

export { freePort, waitForTcp } from "../../simulators/broker/net.js";
export { findMosquitto } from "../../simulators/broker/mosquitto.js";

export type BrokerKind = "mosquitto" | "aedes";

export interface BenchBroker {
  readonly kind: BrokerKind;
  /** e.g. "mosquitto version 2.0.11" or "aedes (embedded, in this process)". */
  readonly version: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

export interface StartBrokerOptions {
  /** Force one broker; by default Mosquitto when installed, else aedes. EDGE_BENCH_BROKER overrides too. */
  prefer?: BrokerKind | undefined;
  /** Lines about what happened (fallback, start-up). */
  log?: ((line: string) => void) | undefined;
}

/**
 * Starts the benchmark broker: a real Mosquitto (temp config, free port, killed on stop) when it is
 * installed, else the embedded aedes broker. The result says which one, so figures are never compared
 * across brokers by accident.
 */
export async function startBenchBroker(options: StartBrokerOptions = {}): Promise<BenchBroker> {
  const log = options.log ?? (() => undefined);
  const env = process.env.EDGE_BENCH_BROKER;
  const prefer = options.prefer ?? (env === "aedes" || env === "mosquitto" ? env : undefined);
  if (prefer !== "aedes") {
    const bin = findMosquitto();
    if (bin) {
      const version = await mosquittoVersion(bin);
      // A benchmark subscriber must never lose a message to a queue limit.
      const broker = await startMosquitto({ bin, extraConfig: ["max_queued_messages 100000"] });
      log(`broker: ${version} (${bin}) on ${broker.url}`);
      return { kind: "mosquitto", version, host: broker.host, port: broker.port, url: broker.url, stop: () => broker.stop() };
    }
    if (prefer === "mosquitto") throw new Error("EDGE_BENCH_BROKER=mosquitto but no mosquitto binary was found");
    log("broker: mosquitto is not installed; falling back to the embedded aedes broker (figures are not comparable with a Mosquitto run)");
  }
  const embedded = await startEmbeddedBroker({ host: "127.0.0.1", port: 0 });
  log(`broker: aedes (embedded) on ${embedded.url}`);
  return {
    kind: "aedes",
    version: "embedded, in the benchmark process",
    host: embedded.host,
    port: embedded.port,
    url: embedded.url,
    stop: () => embedded.stop(),
  };
}
