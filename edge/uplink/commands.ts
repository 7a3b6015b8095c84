import type { Logger } from "../logger.js";
import { EdgeError, errorMessage } from "../errors.js";
import type { Inbound, InboundMessage } from "./inbound.js";

/** A command's answer: ok with its result fields, or an error with a stable code. */
export type CommandReply = ({ ok: true } & Record<string, unknown>) | { ok: false; error: { code: string; message: string; problems?: string[] } };

/** Carries out one command; returns the result fields of an ok reply, throws an EdgeError to refuse. */
export type CommandHandler = (payload: unknown) => Promise<Record<string, unknown>> | Record<string, unknown>;

export interface CommandChannelOptions {
  inbound: Inbound;
  /** Topic root with the device id expanded, e.g. `edge/gw-1`. */
  root: string;
  logger: Logger;
  /** Maps a thrown error to a reply error (e.g. a rule set's problems); default: EdgeError code, lower case. */
  describeError?: (err: unknown) => { code: string; message: string; problems?: string[] } | null;
}

const MAX_PAYLOAD = 64 * 1024;

/**
 * The fleet command channel: requests on `{root}/cmd/{name}` (QoS 1), each answered once on
 * `{root}/cmd/{name}/reply`, or on the MQTT 5 response topic with the request's correlation data
 * when it names one. A request may carry an `id` (string or number), echoed in the reply so MQTT
 * 3.1.1 clients can match answers too.
 */
export class CommandChannel {
  private readonly handlers = new Map<string, CommandHandler>();
  private unsubscribe: (() => void) | null = null;
  private readonly prefix: string;
  readonly counters = { received: 0, ok: 0, failed: 0 };

  constructor(private readonly options: CommandChannelOptions) {
    this.prefix = `${options.root}/cmd/`;
  }

  on(name: string, handler: CommandHandler): this {
    this.handlers.set(name, handler);
    return this;
  }

  start(): void {
    this.unsubscribe = this.options.inbound.subscribe(`${this.prefix}+`, (m) => void this.handle(m));
    this.options.logger.info({ topic: `${this.prefix}+`, commands: [...this.handlers.keys()] }, "fleet commands accepted");
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  private async handle(m: InboundMessage): Promise<void> {
    const name = m.topic.slice(this.prefix.length);
    this.counters.received++;
    let requestId: string | number | undefined;
    let reply: CommandReply;
    try {
      const payload = parsePayload(m.payload);
      if (isObject(payload) && (typeof payload.id === "string" || typeof payload.id === "number")) requestId = payload.id;
      const handler = this.handlers.get(name);
      if (!handler) throw new EdgeError("UNKNOWN_COMMAND", `no command "${name}" (known: ${[...this.handlers.keys()].join(", ")})`);
      reply = { ok: true, ...(await handler(payload)) };
    } catch (err) {
      reply = { ok: false, error: this.describe(err) };
    }
    if (reply.ok) this.counters.ok++;
    else {
      this.counters.failed++;
      this.options.logger.warn({ command: name, error: reply.error }, "fleet command refused");
    }
    const body = requestId === undefined ? reply : { ...reply, id: requestId };
    const topic = m.responseTopic ?? `${this.prefix}${name}/reply`;
    this.options.inbound.publish(topic, JSON.stringify(body), m.correlationData ? { correlationData: m.correlationData } : {});
  }

  private describe(err: unknown): { code: string; message: string; problems?: string[] } {
    const custom = this.options.describeError?.(err);
    if (custom) return custom;
    if (err instanceof EdgeError) return { code: err.code.toLowerCase(), message: err.message };
    this.options.logger.error({ err: errorMessage(err) }, "fleet command failed");
    return { code: "internal", message: errorMessage(err) };
  }
}

function parsePayload(payload: Buffer): unknown {
  if (payload.length > MAX_PAYLOAD) throw new EdgeError("PAYLOAD_TOO_LARGE", `the payload is larger than ${MAX_PAYLOAD} bytes`);
  const text = payload.toString("utf8").trim();
  // An empty payload is an empty request: `reload-rules` needs nothing.
  if (text === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new EdgeError("INVALID_JSON", `the payload is not valid JSON: ${errorMessage(err)}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
