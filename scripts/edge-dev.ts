/**
 * The local edge as `npm start` and the soak's `--edge` run it: the Worker on workerd
 * through wrangler's programmatic API (`unstable_startWorker`, wrangler 4.86) with
 * wrangler's DevTools inspector off, which the `wrangler dev` CLI cannot do. With the
 * inspector on, every subrequest streams DevTools network events to wrangler's Node
 * process: through local workerd the command knee falls below 100 commands/s (issue 14,
 * docs/BENCHMARKS.md "Edge knee"). `npm run edge` (`wrangler dev`) keeps the inspector
 * for debugging.
 *
 * Run by scripts/lib/system.ts (`spawnEdge`) in its own process group; its secrets come
 * from `--env-file` (never argv), read by wrangler exactly as `wrangler dev --env-file`
 * reads them (a `.dev.vars` next to the config is then ignored). SIGTERM, SIGINT or
 * SIGHUP disposes the worker (workerd stops) and exits 0.
 *
 *   node --import tsx scripts/edge-dev.ts --config wrangler.toml --ip 127.0.0.1 --port 8787 \
 *     --env-file <file> --persist-to <dir> --broker-url http://127.0.0.1:8080 [--log-level warn] [--watch]
 *
 * `--watch` reloads the Worker when its sources or config change (wrangler dev's default; `npm
 * start` sets it). Without it nothing reloads: a reload drops the requests in flight (wrangler's
 * proxy answers a POST "Your worker restarted mid-request", 503), which the tests, the soak and
 * the bench must never see.
 *
 * spawnEdge runs it as plain JavaScript (`builtEdgeDev`: esbuild transpiles this one file,
 * no bundling), so it must import nothing of ours: tsx made loading wrangler ~2 s slower.
 */
import { createRequire } from "node:module";
import { parseArgs } from "node:util";

// require(), not `import`: wrangler is one 12.7 MB CommonJS file, and an ES import of it
// first scans all of it for its format and its named exports (Node 20's cjs-module-lexer):
// ~0.4 s of the launcher's ~1.5 s of CPU, measured with --cpu-prof; every e2e test that
// starts an edge paid it (issue 13).
const { unstable_startWorker } = createRequire(import.meta.url)("wrangler") as typeof import("wrangler");

const LOG_LEVELS = ["none", "error", "warn", "info", "log", "debug"] as const;
type LogLevel = (typeof LOG_LEVELS)[number];
const isLogLevel = (value: string): value is LogLevel => (LOG_LEVELS as readonly string[]).includes(value);

function fail(message: string): never {
  console.error(`edge-dev: ${message}`);
  process.exit(2);
}

function options(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      ip: { type: "string" },
      port: { type: "string" },
      "env-file": { type: "string" },
      "persist-to": { type: "string" },
      "broker-url": { type: "string" },
      "log-level": { type: "string", default: "warn" },
      watch: { type: "boolean", default: false },
    },
    strict: true,
  });
  const need = (name: "config" | "ip" | "port" | "env-file" | "persist-to" | "broker-url") =>
    values[name] ?? fail(`--${name} is required`);
  const port = Number(need("port"));
  if (!Number.isInteger(port) || port < 1 || port > 65_535) fail(`--port ${values.port}: not a port`);
  const logLevel = values["log-level"];
  if (!isLogLevel(logLevel)) fail(`--log-level ${logLevel}: one of ${LOG_LEVELS.join(", ")}`);
  return {
    config: need("config"),
    ip: need("ip"),
    port,
    envFile: need("env-file"),
    persistTo: need("persist-to"),
    brokerUrl: need("broker-url"),
    logLevel,
    watch: values.watch,
  };
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  // Signals first: one during start-up must still stop workerd, not orphan it.
  let worker: Awaited<ReturnType<typeof unstable_startWorker>> | undefined;
  let stopRequested = false;
  let disposing = false;
  const stop = () => {
    stopRequested = true;
    // Before start-up returns there is nothing to dispose yet: main() stops it then.
    if (!worker || disposing) return;
    disposing = true;
    void worker
      .dispose()
      .catch((error: unknown) => console.error(`edge-dev: stopping: ${describe(error)}`))
      .then(() => process.exit(0));
  };
  for (const name of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(name, stop);

  worker = await unstable_startWorker({
    config: o.config,
    // Read as `wrangler dev --env-file` reads it (wrangler 4.86 getVarsForDev): with an
    // env file given, `.dev.vars` is skipped; system.ts pins the dotenv switches.
    envFiles: [o.envFile],
    // Not a secret; the config's placeholder must never win over it.
    bindings: { BROKER_URL: { type: "plain_text", value: o.brokerUrl } },
    dev: {
      // The point of this launcher. No dev registry either (wrangler dev's, for
      // service bindings across local workers; Tether has none).
      inspector: false,
      server: { hostname: o.ip, port: o.port },
      persist: o.persistTo,
      logLevel: o.logLevel,
      watch: o.watch,
    },
  });
  if (stopRequested) return stop();
  // wrangler's DevEnv logs its controllers' errors at debug level only: say them.
  worker.raw.on("error", (event: unknown) => {
    console.error(`edge-dev: ${describe(event)}`);
  });

  try {
    await worker.ready;
  } catch (error) {
    console.error(`edge-dev: the edge did not start: ${describe(error)}`);
    await worker.dispose().catch(() => {});
    process.exit(1);
  }
  const url = await worker.url;
  const inspector = await worker.inspectorUrl;
  // One line that system.ts shows and the tests read ("edge ready on …; … inspector off").
  console.log(
    `edge ready on ${url.origin}; wrangler's inspector ${inspector ? `on ${inspector.host}` : "off"}`,
  );
}

/** One line for an error or one of wrangler's error events ({ reason, cause }). */
function describe(value: unknown): string {
  if (value instanceof Error) {
    const cause = value.cause instanceof Error ? `: ${value.cause.message}` : "";
    return `${value.message}${cause}`;
  }
  if (typeof value === "object" && value !== null) {
    const reason = "reason" in value && typeof value.reason === "string" ? value.reason : "error";
    const cause = "cause" in value && value.cause instanceof Error ? `: ${value.cause.message}` : "";
    return `${reason}${cause}`;
  }
  return String(value);
}

main().catch((error: unknown) => {
  console.error(`edge-dev: ${describe(error)}`);
  process.exit(1);
});
