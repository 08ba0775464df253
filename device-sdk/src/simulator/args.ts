import { parseArgs } from "node:util";
import { parseChurn } from "./churn.js";
import type { SimulationOptions } from "./simulation.js";

export const HELP = `Usage: npm run simulate -- [options]

Starts N simulated routers on the Tether device SDK. Each answers ping, get_state and
set_state, reports its state and emits a periodic heartbeat event.

Options:
  --routers <n>              routers to start (default 10)
  --broker <url>             broker URL; repeat or comma-separate for several (default mqtt://127.0.0.1:1883)
  --device-secret <s>        fleet secret for passwords (default env DEVICE_SECRET)
  --id-prefix <p>            router id prefix (default router-): ids <p>0 … <p>{n-1}
  --start-index <i>          first router number (default 0)
  --keepalive <s>            MQTT keepalive seconds (default 30)
  --event-interval-ms <ms>   heartbeat event period, 0 = off (default 30000)
  --state-interval-ms <ms>   uptime state report period, 0 = off (default 60000)
  --churn <spec>             fleet-wide churn per minute, e.g.
                             disconnect=30,half-open=10,takeover=5,vanish=2
                               disconnect  clean DISCONNECT, back after --downtime-ms
                               half-open   socket goes silent (no FIN), back after --downtime-ms
                               takeover    a second connection with the same id, held --takeover-hold-ms
                               vanish      socket goes silent, never returns (a fresh id replaces it)
  --downtime-ms <ms>         mean downtime after disconnect/half-open (default 5000)
  --takeover-hold-ms <ms>    how long a takeover holds the session (default 2000)
  --half-open-hold-ms <ms>   how long a silent socket stays open (default 2 x keepalive + 5 s)
  --no-replace-vanished      do not replace vanished routers
  --ramp-ms <ms>             spread the initial connects over this long (default 0)
  --duration-s <s>           stop after this long (default: run until Ctrl-C)
  --help                     show this help
`;

export type CliArgs = { help: true } | { help: false; options: SimulationOptions; durationS: number | null };

function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number >= 0`);
  return n;
}

/** Parses the simulator's command line; throws with a message on bad input. */
export function parseCliArgs(argv: string[], env: Record<string, string | undefined>): CliArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      routers: { type: "string" },
      broker: { type: "string", multiple: true },
      "device-secret": { type: "string" },
      "id-prefix": { type: "string" },
      "start-index": { type: "string" },
      keepalive: { type: "string" },
      "event-interval-ms": { type: "string" },
      "state-interval-ms": { type: "string" },
      churn: { type: "string" },
      "downtime-ms": { type: "string" },
      "takeover-hold-ms": { type: "string" },
      "half-open-hold-ms": { type: "string" },
      "no-replace-vanished": { type: "boolean" },
      "ramp-ms": { type: "string" },
      "duration-s": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return { help: true };
  const deviceSecret = values["device-secret"] ?? env.DEVICE_SECRET;
  if (!deviceSecret) throw new Error("--device-secret (or env DEVICE_SECRET) is required");
  const brokerUrls = (values.broker ?? ["mqtt://127.0.0.1:1883"])
    .flatMap((b) => b.split(","))
    .filter(Boolean);
  const keepalive = int("keepalive", values.keepalive, 30);
  const halfOpenHold = values["half-open-hold-ms"];
  return {
    help: false,
    durationS: values["duration-s"] === undefined ? null : int("duration-s", values["duration-s"], 0),
    options: {
      routers: int("routers", values.routers, 10),
      brokerUrls,
      deviceSecret,
      idPrefix: values["id-prefix"] ?? "router-",
      startIndex: int("start-index", values["start-index"], 0),
      keepalive,
      eventIntervalMs: int("event-interval-ms", values["event-interval-ms"], 30_000),
      stateIntervalMs: int("state-interval-ms", values["state-interval-ms"], 60_000),
      churn: parseChurn(values.churn ?? ""),
      downtimeMs: int("downtime-ms", values["downtime-ms"], 5_000),
      takeoverHoldMs: int("takeover-hold-ms", values["takeover-hold-ms"], 2_000),
      ...(halfOpenHold === undefined ? {} : { halfOpenHoldMs: int("half-open-hold-ms", halfOpenHold, 0) }),
      replaceVanished: values["no-replace-vanished"] !== true,
      rampMs: int("ramp-ms", values["ramp-ms"], 0),
    },
  };
}
