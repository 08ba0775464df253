/**
 * `npm start`: the whole system on one machine — broker (in memory), edge on
 * workerd (wrangler dev) wired to it both ways, and optionally simulated routers.
 */
import { parseArgs } from "node:util";
import { BROKER_CONFIG, EDGE_DEFAULT_PORT } from "../protocol/src/index.js";
import { banner } from "./lib/banner.js";
import { mintClientToken } from "./lib/dev-secrets.js";
import { findTakenPorts } from "./lib/ports.js";
import { type RunningSystem, startSystem } from "./lib/system.js";

const HELP = `Usage: npm start -- [options]

Starts Tether locally on embedded defaults: the edge on workerd (wrangler dev),
then the broker (in memory) wired to it both ways, then, with --simulate, simulated
routers. Secrets not set in the environment are generated for this run (dev-only);
the edge gets them from a private env file, so a .dev.vars in the repo is ignored.
State lives only as long as the run. Ctrl-C stops everything (twice: kill at once).

Options:
  --simulate N        start N simulated routers (ids router-0 … router-{N-1})
  --id-prefix P       id prefix of simulated routers (default "router-")
  --devices a,b       device ids the printed client token may watch and command
                      (default: the simulated routers, or router-0 … router-9)
  -h, --help          this text

Environment (CONTRACT.md names):
  HOST (127.0.0.1)  MQTT_PORT (${BROKER_CONFIG.MQTT_PORT})  HTTP_PORT (${BROKER_CONFIG.HTTP_PORT})  EDGE_PORT (${EDGE_DEFAULT_PORT})
  DEVICE_SECRET  BROKER_API_TOKEN  EDGE_EVENTS_SECRET (each at least 16 characters)
  RAILS_API_TOKEN  CLIENT_JWT_SECRET
  and every broker variable (npm run broker -- --help), passed through: e.g.
  LOG_LEVEL=warn quiets the broker's JSON log, REDIS_URL switches it to Redis.

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

  const claims = [
    { port: mqttPort, name: "MQTT_PORT", what: "the broker's MQTT listener" },
    { port: httpPort, name: "HTTP_PORT", what: "the broker's HTTP API" },
    { port: edgePort, name: "EDGE_PORT", what: "the edge (wrangler dev)" },
  ];
  const clash = claims.find((claim, i) => claims.findIndex((other) => other.port === claim.port) !== i);
  if (clash) {
    console.error(
      `tether: MQTT_PORT, HTTP_PORT and EDGE_PORT must differ (${clash.name}=${clash.port} is used twice)`,
    );
    process.exit(2);
  }
  const taken = await findTakenPorts(claims, host);
  if (taken.length > 0) {
    console.error(`tether: cannot start:\n  - ${taken.join("\n  - ")}`);
    process.exit(1);
  }

  // Children run in their own process groups, so a terminal's Ctrl-C reaches only
  // this process: it must stop them, during start-up too (else they would be orphaned).
  const startup = new AbortController();
  let system: RunningSystem | undefined;
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\ntether: stopping … (Ctrl-C again to kill at once)");
    await system?.stop();
    console.log("tether: stopped.");
    process.exit(code);
  };
  const onSignal = () => {
    if (!system) {
      startup.abort();
      return;
    }
    if (stopping) {
      system.kill();
      console.error("tether: killed.");
      process.exit(130);
    }
    void shutdown(0);
  };
  for (const name of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(name, onSignal);

  console.log(`tether: starting edge, broker${simulate ? ` and ${simulate} routers` : ""} …`);
  try {
    system = await startSystem({
      host,
      mqttPort,
      httpPort,
      edgePort,
      simulate,
      idPrefix,
      signal: startup.signal,
    });
  } catch (error) {
    if (startup.signal.aborted) {
      console.error("tether: interrupted during start-up; stopped.");
      process.exit(130);
    }
    throw error;
  }

  const deviceIds = values.devices
    ? values.devices.split(",").filter(Boolean)
    : Array.from({ length: Math.min(simulate || 10, 1000) }, (_, i) => `${idPrefix}${i}`);
  const token = await mintClientToken(system.secrets.CLIENT_JWT_SECRET, {
    sub: "dev-user",
    devices: deviceIds,
    kind: "web",
    // The console's token may command the simulated routers (it is the developer's own).
    cmd: true,
  });
  console.log(banner(system, deviceIds, token));

  const exited = await system.firstExit;
  if (!stopping) {
    console.error(
      `tether: ${exited.name} exited unexpectedly; last output:\n  ${exited.tail().join("\n  ")}`,
    );
    await shutdown(1);
  }
}

main().catch((error: unknown) => {
  console.error(`tether: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
