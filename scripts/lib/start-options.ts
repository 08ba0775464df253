/**
 * `npm start`'s options: flags and environment, validated before anything starts, so
 * a wrong value is one line naming the flag — not a 60-second wait for a router that
 * can never connect (`--id-prefix "bad prefix!"`) or Node's own parser (issue 13).
 */
import { parseArgs } from "node:util";
import { attachDashValues, describeArgvError } from "../../broker/src/config/argv.js";
import { hostProblem } from "../../broker/src/config/host.js";
import { BROKER_CONFIG, DEVICE_ID_PATTERN, EDGE_DEFAULT_PORT, isDeviceId } from "../../protocol/src/index.js";
import type { PortClaim } from "./ports.js";

export const HELP = `Usage: npm start -- [options]

Starts Tether locally on embedded defaults: the edge on workerd (wrangler's API,
its DevTools inspector off), then the broker (in memory) wired to it both ways, then, with --simulate, simulated
routers. Secrets not set in the environment are generated for this run (dev-only);
the edge gets them from a private env file, so a .dev.vars in the repo is ignored.
State lives only as long as the run. Ctrl-C stops everything (twice: kill at once).

Options (each port and the host also as the variable in brackets; a flag wins):
  --simulate N        start N simulated routers (ids router-0 … router-{N-1})
  --id-prefix P       id prefix of simulated routers (default "router-")
  --devices a,b       device ids the printed client token may watch and command
                      (default: the simulated routers, or router-0 … router-9)
  --host H            address everything binds (HOST; default 127.0.0.1)
  --mqtt-port N       the broker's MQTT port (MQTT_PORT; default ${BROKER_CONFIG.MQTT_PORT})
  --http-port N       the broker's HTTP API (HTTP_PORT; default ${BROKER_CONFIG.HTTP_PORT})
  --edge-port N       the edge (EDGE_PORT; default ${EDGE_DEFAULT_PORT})
  --inspector         run the edge with \`wrangler dev\` itself, DevTools inspector on (to
                      debug the Worker; slower: every subrequest streams to DevTools)
  -h, --help          this text

A default port that is taken (Mosquitto often holds 1883) is replaced by a free one,
said in one line; a port you set that is taken stops the start.

Environment: DEVICE_SECRET  BROKER_API_TOKEN  EDGE_EVENTS_SECRET  RAILS_API_TOKEN
  CLIENT_JWT_SECRET (each at least 16 characters; generated when unset), and every
  broker variable (npm run broker -- --help), passed through: e.g. LOG_LEVEL=warn
  quiets the broker's JSON log, REDIS_URL switches it to Redis. The names are those
  of docs/PROTOCOL.md; README.md's "Configuration" table lists them all.

Example: npm start -- --simulate 5`;

export interface StartOptions {
  simulate: number;
  idPrefix: string;
  /** Device ids for the printed client token; undefined = the simulated routers. */
  devices?: string[];
  host: string;
  /** What set the host, for messages: "--host" or "HOST". */
  hostName: string;
  /** MQTT, HTTP and edge, in that order. */
  ports: [PortClaim, PortClaim, PortClaim];
  /** `--inspector`: the edge under `wrangler dev` with its DevTools inspector (default off). */
  inspector: boolean;
}

export type ParsedStart =
  | { kind: "help" }
  | { kind: "start"; options: StartOptions }
  | { kind: "invalid"; problems: string[] };

const PORTS = [
  {
    flag: "mqtt-port",
    env: "MQTT_PORT",
    port: BROKER_CONFIG.MQTT_PORT,
    what: "the broker's MQTT listener",
    label: "MQTT port",
    usualHolder: " (mosquitto?)",
  },
  {
    flag: "http-port",
    env: "HTTP_PORT",
    port: BROKER_CONFIG.HTTP_PORT,
    what: "the broker's HTTP API",
    label: "HTTP port",
  },
  {
    flag: "edge-port",
    env: "EDGE_PORT",
    port: EDGE_DEFAULT_PORT,
    what: "the edge (workerd)",
    label: "Edge port",
  },
] as const;

const VALUE_FLAGS = new Set(["simulate", "id-prefix", "devices", "host", ...PORTS.map((p) => p.flag)]);

/** A flag's value, else the variable's (empty = unset), with the name to blame for it. */
function pick(flag: string | undefined, flagName: string, env: string | undefined, envName: string) {
  if (flag !== undefined) return { value: flag, name: `--${flagName}` };
  if (env !== undefined && env !== "") return { value: env, name: envName };
  return undefined;
}

/**
 * Reads `npm start`'s flags and environment; every problem at once, one line each.
 *
 * @example
 *   const parsed = parseStartOptions(process.argv.slice(2), process.env);
 *   if (parsed.kind === "invalid") for (const line of parsed.problems) console.error(`tether: ${line}`);
 */
export function parseStartOptions(argv: string[], env: NodeJS.ProcessEnv): ParsedStart {
  // Help wins even when the rest of the command line is wrong.
  if (argv.includes("--help") || argv.includes("-h")) return { kind: "help" };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: attachDashValues(argv, VALUE_FLAGS),
      options: {
        ...Object.fromEntries([...VALUE_FLAGS].map((flag) => [flag, { type: "string" as const }])),
        help: { type: "boolean", short: "h" },
        inspector: { type: "boolean" },
      },
    }));
  } catch (error) {
    return { kind: "invalid", problems: [describeArgvError(error) ?? String(error)] };
  }
  const text = (name: string) => (typeof values[name] === "string" ? values[name] : undefined);
  const problems: string[] = [];

  const simulateText = text("simulate");
  const simulate = simulateText === undefined ? 0 : Number(simulateText);
  if (!/^\d+$/.test(simulateText ?? "0") || simulate > 100_000) {
    problems.push(`--simulate ${simulateText}: a whole number of routers, 0-100000`);
  }

  const idPrefix = text("id-prefix") ?? "router-";
  const lastId = `${idPrefix}${Math.max(simulate - 1, 0)}`;
  if (!isDeviceId(lastId)) {
    problems.push(
      `--id-prefix "${idPrefix}": device ids (${DEVICE_ID_PATTERN.source}) hold only letters, digits, _ and -, ` +
        `at most 64 of them; "${lastId}" is not one`,
    );
  }

  const devicesText = text("devices");
  const devices = devicesText?.split(",").filter(Boolean);
  const badDevices = devices?.filter((id) => !isDeviceId(id)) ?? [];
  if (devices?.length === 0 || badDevices.length > 0) {
    problems.push(
      `--devices ${devicesText}: a comma-separated list of device ids (${DEVICE_ID_PATTERN.source})`,
    );
  }

  const host = pick(text("host"), "host", env.HOST, "HOST") ?? { value: "127.0.0.1", name: "HOST" };
  const badHost = hostProblem(host.value);
  if (badHost) problems.push(`${host.name} ${host.value} ${badHost}`);

  const ports = PORTS.map((spec): PortClaim => {
    const given = pick(text(spec.flag), spec.flag, env[spec.env], spec.env);
    const claim = { ...spec, name: given?.name ?? spec.env, explicit: given !== undefined };
    if (!given) return claim;
    const port = Number(given.value);
    if (!/^\d+$/.test(given.value) || port < 1 || port > 65_535) {
      problems.push(`${given.name} ${given.value}: a port is a whole number from 1 to 65535`);
    }
    return { ...claim, port };
  });
  const [mqtt, http, edge] = ports as [PortClaim, PortClaim, PortClaim];
  const explicit = ports.filter((claim) => claim.explicit && Number.isInteger(claim.port));
  const clash = explicit.find((claim, i) => explicit.findIndex((other) => other.port === claim.port) !== i);
  if (clash)
    problems.push(`MQTT, HTTP and edge ports must differ (${clash.name} ${clash.port} is used twice)`);

  if (problems.length > 0) return { kind: "invalid", problems };
  return {
    kind: "start",
    options: {
      simulate,
      idPrefix,
      ...(devices ? { devices } : {}),
      host: host.value,
      hostName: host.name,
      ports: [mqtt, http, edge],
      inspector: values.inspector === true,
    },
  };
}
