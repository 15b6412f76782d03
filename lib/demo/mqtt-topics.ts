/** The MQTT example's topics (examples/09 …), as the demo prints them. */
export const DEMO_TOPICS = {
  estop: 'workcell/demo/estop',
  command: 'workcell/demo/command',
  reply: 'workcell/demo/command/reply',
  status: 'workcell/demo/status',
  heartbeat: 'workcell/demo/heartbeat',
} as const;

/** What to try against the demo's broker, with mosquitto_sub / mosquitto_pub (Debian: mosquitto-clients), one line each. */
export function mqttTopicsHelp(brokerUrl: string): string[] {
  const u = new URL(brokerUrl);
  const at = `-h ${u.hostname} -p ${u.port || 1883}`;
  const t = DEMO_TOPICS;
  return [
    `MQTT (example "06 MQTT remote control", broker ${brokerUrl}): try`,
    `  mosquitto_sub ${at} -t 'workcell/demo/#' -v`,
    `  mosquitto_pub ${at} -t ${t.command} -m '{"command":"start","sequence":"Remote job","id":"1"}'   (answers on ${t.reply})`,
    `  mosquitto_pub ${at} -r -t ${t.estop} -m tripped   (remote emergency stop; -m clear releases it)`,
    `  mosquitto_pub ${at} -t ${t.command} -m '{"command":"reset","id":"2"}'`,
    `  status: retained JSON on ${t.status}; heartbeat: ${t.heartbeat} (the flow's inject node beats every 2 s)`,
  ];
}
