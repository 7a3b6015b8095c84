/** The Sparkplug B uplink's public surface, for the agent's runtime and config. */
export { SparkplugUplink, type SparkplugUplinkOptions, type SparkplugUplinkStatus } from "./sparkplug-uplink.js";
export { sparkplugConfigSchema, sparkplugId, type SparkplugConfig } from "./config.js";
export type { SparkplugDeviceSpec, SparkplugMetricSpec } from "./catalog.js";
export type { MetricHint } from "./values.js";
export { sparkplugTopic } from "./topics.js";
