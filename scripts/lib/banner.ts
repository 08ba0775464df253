import type { RunningSystem } from "./system.js";

/**
 * What `npm start` prints once everything answers: URLs, a client token, a curl line.
 * `simulated` routers are running; with none, the curl line can only answer 409.
 */
export function banner(
  system: Pick<RunningSystem, "urls" | "secrets" | "generated">,
  deviceIds: string[],
  token: string,
  simulated: number,
): string {
  const first = deviceIds[0] ?? "router-0";
  const { edge, brokerHttp, mqtt } = system.urls;
  const watched = deviceIds.length > 3 ? `${deviceIds.slice(0, 3).join(", ")}, …` : deviceIds.join(", ");
  const generated = system.generated.length
    ? `\n  DEV-ONLY secrets generated for this run (set them in the environment to keep them):\n${system.generated
        .map((name) => `    ${name}=${system.secrets[name]}`)
        .join("\n")}`
    : "";
  const offlineHint =
    simulated > 0
      ? ""
      : `\n    (409 device_offline until ${first} connects: npm start -- --simulate 1 starts one)`;
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
      -d '{"name":"ping"}'${offlineHint}
  Device password: DEVICE_SECRET=… npm run -s broker -- credentials ${first}${generated}
Ctrl-C stops everything.`;
}
