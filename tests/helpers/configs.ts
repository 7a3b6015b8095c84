/** Config snippets tests share. */

/** A `devices:` section with one Modbus TCP device polling `count` holding registers (plc.r0 .. plc.rN). */
export function modbusDevicesYaml(port: number, count: number, pollMs: number): string {
  const points = Array.from({ length: count }, (_, i) => `      - { id: plc.r${i}, register: ${i}, type: uint16 }`).join("\n");
  return `devices:
  - id: plc
    protocol: modbus-tcp
    host: 127.0.0.1
    port: ${port}
    pollMs: ${pollMs}
    points:
${points}
`;
}
