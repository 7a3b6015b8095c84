/** The Sparkplug B topic namespace this uplink speaks. */
export const SPARKPLUG_NAMESPACE = "spBv1.0";

export type SparkplugMessageType = "NBIRTH" | "NDEATH" | "NDATA" | "NCMD" | "DBIRTH" | "DDEATH" | "DDATA" | "DCMD";

/** `spBv1.0/{group}/{type}/{node}[/{device}]`; ids are validated by the config schema, not here. */
export function sparkplugTopic(groupId: string, type: SparkplugMessageType, edgeNodeId: string, deviceId?: string): string {
  const base = `${SPARKPLUG_NAMESPACE}/${groupId}/${type}/${edgeNodeId}`;
  return deviceId === undefined ? base : `${base}/${deviceId}`;
}
