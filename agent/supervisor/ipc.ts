/**
 * Messages between the supervisor and the agent it runs, over the Node IPC channel. Only plain data
 * crosses: the supervisor never loads the agent's code (a broken release must not break its own
 * rollback), so these types are the whole contract between the two.
 */

/**
 * How often the agent reports health. The supervisor treats a report older than 1.5 times this as a
 * hung agent (a blocked event loop sends nothing, but its last report said ok).
 */
export const HEALTH_INTERVAL_MS = 5000;

/** Agent -> supervisor, every HEALTH_INTERVAL_MS once the runtime has started. */
export interface AgentHealthMessage {
  type: "health";
  /** The agent considers itself working: config loaded, runtime started, store taking writes. */
  ok: boolean;
  configLoaded: boolean;
  /** Drivers currently connected to their device. */
  devicesConnected: number;
  /** null when no broker is configured. */
  uplinkConnected: boolean | null;
}

/**
 * Agent -> supervisor: the updater installed a release and recorded `switching`; the supervisor stops
 * this agent, switches `current` and starts the new version under a health window.
 */
export interface OtaSwitchRequest {
  type: "ota-switch";
  offerId: string;
}

export type AgentToSupervisor = AgentHealthMessage | OtaSwitchRequest;

export function isAgentMessage(msg: unknown): msg is AgentToSupervisor {
  if (typeof msg !== "object" || msg === null) return false;
  const m = msg as { type?: unknown; ok?: unknown; offerId?: unknown };
  return (m.type === "health" && typeof m.ok === "boolean") || (m.type === "ota-switch" && typeof m.offerId === "string");
}

/** Supervisor -> agent: status messages were queued in ota/outbox/ (after a commit or rollback); send them. */
export interface FlushReportsRequest {
  type: "ota-flush";
}

export function isFlushRequest(msg: unknown): msg is FlushReportsRequest {
  return typeof msg === "object" && msg !== null && (msg as { type?: unknown }).type === "ota-flush";
}
