import { parseArgs } from "node:util";
import type { ChurnRates } from "../device-sdk/src/simulator/churn.js";
import { parseChurn } from "../device-sdk/src/simulator/churn.js";
import { type AllocatorChoice, parseAllocatorChoice } from "../scripts/lib/allocator.js";

/** The priming's rates: churn and commands at this many times the options'. */
export const PRIME_FACTOR = 10;
/**
 * Default: no priming. Measured (docs/BENCHMARKS.md, issue 18, 2026-11-29): 5 minutes at 10×
 * left V8's code and the heap after GC less code climbing as fast after 10 minutes as without it.
 */
export const PRIME_DEFAULT_MS = 0;

export const HELP = `Usage: npm run soak -- [options]

Runs Tether's broker in its own process (the built dist/broker/cli.js), drives it with N simulated
routers (the SDK simulator) under churn and a simulated Rails sending commands, samples the
broker's memory (VmRSS from /proc, heap and live counts from /debug/memory or /metrics), and
at the end prints the old system's table (uptime → footprint), writes an SVG chart and a JSON
file, fits the memory slope after warm-up, and exits 1 when the RSS slope exceeds the limit.

Options:
  --duration <d>           how long to run: 90s, 10m, 1h30m, or seconds (default 30m)
  --routers <n>            simulated routers (default 200)
  --churn <spec>           fleet-wide churn per minute (default
                           disconnect=20,half-open=10,takeover=6,vanish=6); vanished routers
                           never return (a fresh id replaces each), so their sessions must expire
  --keepalive <s>          router MQTT keepalive (default 10; half-open found in 15 s)
  --session-expiry <s>     broker SESSION_EXPIRY_SECONDS (default 60; the reaper runs every 60 s)
  --command-rate <n>       commands per second from the simulated Rails (default 20)
  --queued-share <f>       share of commands sent with queue: true (default 0.1)
  --event-interval-ms <ms> router heartbeat event period (default 5000)
  --state-interval-ms <ms> router state report period (default 10000)
  --sample-interval <d>    memory sample period (default 5s)
  --gc-every <d>           force a full GC in the broker through the V8 inspector (the broker is
                           started with --inspect=127.0.0.1:0) this often and read its live RSS
                           and heap; 0 = never (default 5s: twice the post-GC samples of 10s,
                           so the fit's standard error is ~0.7×). The slope is fitted to the live RSS
                           when there are such samples, else to the raw RSS
  --prime <d>              priming: for this long from the start, the churn and the simulated Rails
                           run at ten times their rates, so the JIT's code and V8's metadata for
                           it (which grow with invocations, not time) reach their plateau early;
                           then the normal load. The fit never starts before the priming ends
                           (default 0: none; measured, it did not shorten the warm-up)
  --warmup <d>             excluded from the slope fit (default: estimated from the data — until
                           the gated series and V8's code level off into a straight line
                           and the heap after GC less code into a flat one, at
                           least 60 s; a run that ends inside it is "inconclusive: still warming up")
  --max-slope-kbps <x>     the flatness limit in KB/s (default 0.1). Exit 0 when the fitted slope
                           is within it; 1 when it exceeds it by more than two standard errors
                           (memory grows); 3 when the limit lies inside the slope's ~95 % interval
                           (too short or noisy a run to tell: run longer)
  --out <dir>              where soak.json, soak.svg and broker.log go (default soak-out)
  --edge                   also run the edge (workerd, inspector off, as \`npm start\` does, on
                           free ports, secrets shared with the broker): Rails' commands go through
                           the edge, broker events go to it, and --ws-clients WebSocket clients
                           watch routers through it
  --ws-clients <n>         with --edge: WebSocket clients watching routers (default 20)
  --edge-outages           implies --edge: stop the edge for 30 s every 5 minutes (issue 12); after each
                           outage, check that every router's view at the edge (online, and the state
                           of an online router) matches the router's truth within 60 s. The report
                           shows each outage; a view that does not converge fails the run (exit 1)
  --edge-outage-every <d>  with --edge-outages: time between outages (default 5m)
  --edge-outage-for <d>    with --edge-outages: how long the edge stays down (default 30s)
  --mqtt-port <p>          broker MQTT port (default 0: any free port)
  --http-port <p>          broker HTTP port (default 0: any free port)
  --broker-log-level <l>   broker LOG_LEVEL (default warn); its output goes to <out>/broker.log
  --malloc-arena-max <n>   the broker's MALLOC_ARENA_MAX, as the README's systemd unit sets it
                           (default 2); 0 sets nothing (glibc's default, 8 arenas per core,
                           unless your environment sets it), to see what fragmentation costs
  --allocator <a>          the broker's malloc: glibc, jemalloc (LD_PRELOAD of Debian's libjemalloc2)
                           or auto (default: TETHER_ALLOCATOR, else auto = jemalloc when installed);
                           --malloc-arena-max applies to glibc only
  --help                   this text

Example: npm run soak -- --duration 5m --routers 200`;

export interface SoakOptions {
  durationMs: number;
  routers: number;
  churn: ChurnRates;
  churnSpec: string;
  keepalive: number;
  sessionExpirySeconds: number;
  commandRate: number;
  queuedShare: number;
  eventIntervalMs: number;
  stateIntervalMs: number;
  sampleIntervalMs: number;
  gcEveryMs: number;
  /** Priming at PRIME_FACTOR times the churn and command rates from the start, ms; 0 = none. */
  primeMs: number;
  /** Excluded from the fit; null = estimated from the data (soak/warmup.ts). */
  warmupMs: number | null;
  maxSlopeKbps: number;
  out: string;
  /** Run a local edge (workerd, as `npm start` does) in front of the broker; null = broker only. */
  edge: { wsClients: number; outages: { everyMs: number; forMs: number } | null } | null;
  mqttPort: number;
  httpPort: number;
  brokerLogLevel: string;
  /** The broker's MALLOC_ARENA_MAX; 0 = unset (glibc's default). */
  mallocArenaMax: number;
  /** The broker's allocator (scripts/lib/allocator.ts). */
  allocator: AllocatorChoice;
}

const DEFAULT_CHURN = "disconnect=20,half-open=10,takeover=6,vanish=6";

/**
 * "90s", "10m", "1h30m", "2h", or a bare number of seconds → milliseconds.
 *
 * @example parseDuration("1m30s") // 90000
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== trimmed) {
    throw new Error(`"${text}" is not a duration (use e.g. 90s, 10m, 1h30m)`);
  }
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  return parts.reduce((total, p) => total + Number(p[1]) * (unit[p[2] ?? "s"] ?? 1000), 0);
}

function number(name: string, text: string | undefined, fallback: number, min = 0): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min} (got "${text}")`);
  return n;
}

/** Parses the soak's command line; throws with a message on bad input. */
export function parseSoakArgs(argv: string[]): SoakOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      duration: { type: "string" },
      routers: { type: "string" },
      churn: { type: "string" },
      keepalive: { type: "string" },
      "session-expiry": { type: "string" },
      "command-rate": { type: "string" },
      "queued-share": { type: "string" },
      "event-interval-ms": { type: "string" },
      "state-interval-ms": { type: "string" },
      "sample-interval": { type: "string" },
      "gc-every": { type: "string" },
      warmup: { type: "string" },
      prime: { type: "string" },
      "max-slope-kbps": { type: "string" },
      out: { type: "string" },
      edge: { type: "boolean" },
      "ws-clients": { type: "string" },
      "edge-outages": { type: "boolean" },
      "edge-outage-every": { type: "string" },
      "edge-outage-for": { type: "string" },
      "mqtt-port": { type: "string" },
      "http-port": { type: "string" },
      "broker-log-level": { type: "string" },
      "malloc-arena-max": { type: "string" },
      allocator: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  const durationMs = parseDuration(values.duration ?? "30m");
  if (durationMs < 10_000) throw new Error("--duration must be at least 10s");
  const warmupMs = values.warmup === undefined ? null : parseDuration(values.warmup);
  if (warmupMs !== null && warmupMs >= durationMs)
    throw new Error("--warmup must be shorter than --duration");
  const primeMs = values.prime === undefined ? PRIME_DEFAULT_MS : parseDuration(values.prime);
  if (primeMs > 0 && primeMs >= durationMs / 2)
    throw new Error("--prime must be shorter than half of --duration (the fit needs the rest)");
  if (warmupMs !== null && warmupMs < primeMs) throw new Error("--warmup must not end before --prime");
  const churnSpec = values.churn ?? DEFAULT_CHURN;
  const outages = values["edge-outages"]
    ? {
        everyMs: parseDuration(values["edge-outage-every"] ?? "5m"),
        forMs: parseDuration(values["edge-outage-for"] ?? "30s"),
      }
    : null;
  // --edge-outages needs an edge to stop: it implies --edge.
  const withEdge = values.edge === true || outages !== null;
  const edge: SoakOptions["edge"] = withEdge
    ? { wsClients: number("ws-clients", values["ws-clients"], 20), outages }
    : null;
  if (!withEdge && values["ws-clients"] !== undefined) throw new Error("--ws-clients needs --edge");
  if (!values["edge-outages"] && (values["edge-outage-every"] ?? values["edge-outage-for"]) !== undefined) {
    throw new Error("--edge-outage-every and --edge-outage-for need --edge-outages");
  }
  return {
    durationMs,
    routers: number("routers", values.routers, 200, 1),
    churn: parseChurn(churnSpec),
    churnSpec,
    keepalive: number("keepalive", values.keepalive, 10, 1),
    sessionExpirySeconds: number("session-expiry", values["session-expiry"], 60, 1),
    commandRate: number("command-rate", values["command-rate"], 20),
    queuedShare: Math.min(1, number("queued-share", values["queued-share"], 0.1)),
    eventIntervalMs: number("event-interval-ms", values["event-interval-ms"], 5_000),
    stateIntervalMs: number("state-interval-ms", values["state-interval-ms"], 10_000),
    sampleIntervalMs: parseDuration(values["sample-interval"] ?? "5s"),
    gcEveryMs: parseDuration(values["gc-every"] ?? "5s"),
    primeMs,
    warmupMs,
    maxSlopeKbps: number("max-slope-kbps", values["max-slope-kbps"], 0.1),
    out: values.out ?? "soak-out",
    edge,
    mqttPort: number("mqtt-port", values["mqtt-port"], 0),
    httpPort: number("http-port", values["http-port"], 0),
    brokerLogLevel: values["broker-log-level"] ?? "warn",
    mallocArenaMax: Math.floor(number("malloc-arena-max", values["malloc-arena-max"], 2)),
    allocator: parseAllocatorChoice(values.allocator ?? process.env.TETHER_ALLOCATOR),
  };
}
