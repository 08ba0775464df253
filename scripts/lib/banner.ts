import type { RunningSystem } from "./system.js";

/** What `npm start` prints once everything answers: URLs, a client token, a curl line. */
export function banner(system: RunningSystem, deviceIds: string[], token: string): string {
  const first = deviceIds[0] ?? "router-0";
  const { edge, brokerHttp, mqtt } = system.urls;
  const watched = deviceIds.length > 3 ? `${deviceIds.slice(0, 3).join(", ")}, …` : deviceIds.join(", ");
  const generated = system.generated.length
    ? `\n  DEV-ONLY secrets generated for this run (set them in the environment to keep them):\n${system.generated
        .map((name) => `    ${name}=${system.secrets[name]}`)
        .join("\n")}`
    : "";
  return `
tether is up.
  Web console   ${edge}/#device=${encodeURIComponent(first)}&token=${token}
  Rails API     ${edge}/v1/devices/{id}/commands   (Authorization: Bearer $RAILS_API_TOKEN)
  Broker API    ${brokerHttp}   MQTT  ${mqtt}
  Client token  (devices ${watched}; 12 h)
    ${token}
  Try:
    curl -s -X POST ${edge}/v1/devices/${encodeURIComponent(first)}/commands \\
      -H 'Authorization: Bearer ${system.secrets.RAILS_API_TOKEN}' -H 'Content-Type: application/json' \\
      -d '{"name":"ping"}'
  Device password: DEVICE_SECRET=… npm run -s broker -- credentials ${first}${generated}
Ctrl-C stops everything.`;
}
