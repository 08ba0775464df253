/**
 * `npm start`: the whole system on one machine — broker (in memory), edge on
 * workerd (wrangler dev) wired to it both ways, and optionally simulated routers.
 */
import { parseArgs } from "node:util";
import { BROKER_CONFIG, EDGE_DEFAULT_PORT } from "../protocol/src/index.js";
import { mintClientToken } from "./lib/dev-secrets.js";
import { findTakenPorts } from "./lib/ports.js";
import { startSystem } from "./lib/system.js";

const HELP = `Usage: npm start -- [options]

Starts Tether locally on embedded defaults: the broker (in memory), the edge on
workerd (wrangler dev) and, with --simulate, simulated routers. Secrets not set
in the environment are generated for this run (dev-only). Ctrl-C stops everything.

Options:
  --simulate N        start N simulated routers (ids router-0 … router-{N-1})
  --id-prefix P       id prefix of simulated routers (default "router-")
  --devices a,b       device ids the printed client token may watch
                      (default: the simulated routers, or router-0 … router-9)
  -h, --help          this text

Environment (CONTRACT.md names):
  HOST (127.0.0.1)  MQTT_PORT (${BROKER_CONFIG.MQTT_PORT})  HTTP_PORT (${BROKER_CONFIG.HTTP_PORT})  EDGE_PORT (${EDGE_DEFAULT_PORT})
  DEVICE_SECRET  BROKER_API_TOKEN  EDGE_EVENTS_SECRET  RAILS_API_TOKEN  CLIENT_JWT_SECRET
  and every broker variable (npm run broker -- --help), passed through.

Example: MQTT_PORT=18883 npm start -- --simulate 5`;

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    console.error(`tether: ${name}=${raw} is not a port (1-65535)`);
    process.exit(2);
  }
  return port;
}

async function main(): Promise<void> {
  let values: { simulate?: string; "id-prefix"?: string; devices?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        simulate: { type: "string" },
        "id-prefix": { type: "string" },
        devices: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`tether: ${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(HELP);
    return;
  }
  const simulate = values.simulate === undefined ? 0 : Number(values.simulate);
  if (!Number.isInteger(simulate) || simulate < 0 || simulate > 100_000) {
    console.error("tether: --simulate takes a whole number of routers (0-100000)");
    process.exit(2);
  }
  const idPrefix = values["id-prefix"] ?? "router-";
  const host = process.env.HOST || "127.0.0.1";
  const mqttPort = portFromEnv("MQTT_PORT", BROKER_CONFIG.MQTT_PORT);
  const httpPort = portFromEnv("HTTP_PORT", BROKER_CONFIG.HTTP_PORT);
  const edgePort = portFromEnv("EDGE_PORT", EDGE_DEFAULT_PORT);

  const taken = await findTakenPorts(
    [
      { port: mqttPort, name: "MQTT_PORT", what: "the broker's MQTT listener" },
      { port: httpPort, name: "HTTP_PORT", what: "the broker's HTTP API" },
      { port: edgePort, name: "EDGE_PORT", what: "the edge (wrangler dev)" },
    ],
    host,
  );
  if (taken.length > 0) {
    console.error(`tether: cannot start:\n  - ${taken.join("\n  - ")}`);
    process.exit(1);
  }

  console.log(`tether: starting broker, edge${simulate ? ` and ${simulate} routers` : ""} …`);
  const system = await startSystem({ host, mqttPort, httpPort, edgePort, simulate, idPrefix });

  const deviceIds = values.devices
    ? values.devices.split(",").filter(Boolean)
    : Array.from({ length: Math.min(simulate || 10, 1000) }, (_, i) => `${idPrefix}${i}`);
  const token = await mintClientToken(system.secrets.CLIENT_JWT_SECRET, {
    sub: "dev-user",
    devices: deviceIds,
    kind: "web",
  });
  const first = deviceIds[0] ?? `${idPrefix}0`;
  const { edge, brokerHttp, mqtt } = system.urls;
  const generated = system.generated.length
    ? `\n  DEV-ONLY secrets generated for this run (set them in the environment to keep them):\n${system.generated
        .map((name) => `    ${name}=${system.secrets[name]}`)
        .join("\n")}`
    : "";
  console.log(`
tether is up.
  Web console   ${edge}/#device=${encodeURIComponent(first)}&token=${token}
  Rails API     ${edge}/v1/devices/{id}/commands   (Authorization: Bearer $RAILS_API_TOKEN)
  Broker API    ${brokerHttp}   MQTT  ${mqtt}
  Client token  (devices ${deviceIds.length > 3 ? `${deviceIds.slice(0, 3).join(", ")}, …` : deviceIds.join(", ")}; 12 h)
    ${token}
  Try:
    curl -s -X POST ${edge}/v1/devices/${first}/commands \\
      -H 'Authorization: Bearer ${system.secrets.RAILS_API_TOKEN}' -H 'Content-Type: application/json' \\
      -d '{"name":"ping"}'
  Device password: npm run broker -- credentials ${first}   (with the same DEVICE_SECRET)${generated}
Ctrl-C stops everything.`);

  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\ntether: stopping …");
    await system.stop();
    console.log("tether: stopped.");
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));
  const exited = await system.firstExit;
  if (!stopping) {
    console.error(`tether: ${exited.name} exited unexpectedly; last output:\n  ${exited.tail().join("\n  ")}`);
    await shutdown(1);
  }
}

main().catch((error: unknown) => {
  console.error(`tether: ${(error as Error).message}`);
  process.exit(1);
});
