/**
 * MQTT topic names under the configured root (default `edge/{deviceId}`), in one place so the uplink,
 * the docs and the tests agree.
 */
export interface Topics {
  telemetry: string;
  events: string;
  alarms: string;
  state: string;
  otaStatus: string;
}

export function expandRoot(template: string, deviceId: string): string {
  return template.replaceAll("{deviceId}", deviceId).replace(/\/+$/, "");
}

export function topicsFor(root: string): Topics {
  return {
    telemetry: `${root}/telemetry`,
    events: `${root}/events`,
    alarms: `${root}/alarms`,
    state: `${root}/state`,
    otaStatus: `${root}/ota/status`,
  };
}
