/**
 * The local edge (workerd) as `npm start`, the soak and the bench start it: the launcher
 * scripts/edge-dev.ts (wrangler's API, inspector off) or `wrangler dev` (inspector on).
 * Split from system.ts, which wires it to the broker and the simulated routers.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { DevSecrets } from "./dev-secrets.js";
import { freePort } from "./ports.js";
import { type ManagedProcess, spawnManaged } from "./processes.js";
import { ROOT } from "./root.js";
import { workerdNoiseFilter } from "./workerd-noise.js";

/**
 * wrangler's own environment. `--env-file` makes wrangler skip `.dev.vars` (wrangler
 * 4.86 `getVarsForDev`: .dev.vars is read only when no env file is given), and these
 * pin the other switches a developer may have set in their shell: a disabled dotenv
 * loader would drop our secrets, an included process.env would hand the whole shell
 * to the Worker as secrets. The `Request.cf` download is off: it only warns offline.
 */
const WRANGLER_ENV = {
  CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV: "true",
  CLOUDFLARE_INCLUDE_PROCESS_ENV: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};

export interface EdgeSpawnOptions {
  host: string;
  port: number;
  /** The broker API the Worker calls (BROKER_URL). */
  brokerHttp: string;
  secrets: Pick<
    DevSecrets,
    "RAILS_API_TOKEN" | "CLIENT_JWT_SECRET" | "BROKER_API_TOKEN" | "EDGE_EVENTS_SECRET"
  >;
  /** A private directory for the env file and wrangler's local state; the caller removes it. */
  stateDir: string;
  output: ((line: string) => void) | null;
  /** Default: the repo's wrangler.toml. */
  wranglerConfig?: string;
  /**
   * true: `wrangler dev` itself (as `npm run edge`), with its DevTools inspector on a free
   * port, as `npm start` ran the edge before issue 14. Default false: scripts/edge-dev.ts,
   * wrangler's programmatic API with the inspector off (the CLI cannot turn it off): p99 at
   * 100 commands/s 79 against 531 ms (docs/BENCHMARKS.md, "npm start's edge with the inspector off").
   */
  inspector?: boolean;
  /**
   * Reload the Worker when its sources or config change (scripts/edge-dev.ts `--watch`; `wrangler
   * dev` always does). Default false: a reload answers the POSTs in flight with wrangler's
   * "Your worker restarted mid-request" 503, which a test or a soak must never see.
   */
  watch?: boolean;
}

const EDGE_DEV_SOURCE = join(ROOT, "scripts/edge-dev.ts");
const EDGE_DEV_DIR = join(ROOT, "dist/edge-dev");

/**
 * scripts/edge-dev.ts as plain JavaScript, transpiled by esbuild when its source changed
 * (named by the source's hash; other versions removed). Run under tsx instead, loading
 * wrangler's 12 MB bundle cost ~2 s more CPU (5.4 against 3.2 s, load ~13) and made the
 * edge start slower than `wrangler dev`. The launcher imports nothing of ours, so
 * transpiling the one file (no bundling) is enough; `wrangler` resolves from the repo's
 * node_modules as dist/ is inside it.
 */
export async function builtEdgeDev(): Promise<string> {
  const source = await readFile(EDGE_DEV_SOURCE, "utf8");
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 12);
  const built = join(EDGE_DEV_DIR, `edge-dev-${hash}.mjs`);
  if (
    await stat(built).then(
      () => true,
      () => false,
    )
  )
    return built;
  const { transform } = await import("esbuild");
  const { code } = await transform(source, {
    loader: "ts",
    format: "esm",
    platform: "node",
    target: "node20",
  });
  await mkdir(EDGE_DEV_DIR, { recursive: true });
  // Written beside and renamed into place: a launcher starting meanwhile reads a whole file.
  const scratch = `${built}.${process.pid}.tmp`;
  await writeFile(scratch, code);
  await rename(scratch, built);
  for (const name of await readdir(EDGE_DEV_DIR)) {
    if (name.endsWith(".mjs") && join(EDGE_DEV_DIR, name) !== built)
      await rm(join(EDGE_DEV_DIR, name), { force: true });
  }
  return built;
}

/**
 * Starts the local edge (workerd) without waiting for it: scripts/edge-dev.ts, or `wrangler
 * dev` with `inspector: true`. Its secrets go in an env file (mode 600) in `stateDir`, so they
 * never appear in a process list or in wrangler's binding table. Used by `npm start` and by
 * the soak's `--edge`.
 */
export async function spawnEdge(options: EdgeSpawnOptions): Promise<ManagedProcess> {
  const envFile = join(options.stateDir, "edge.env");
  const edgeVars = {
    // Every edge this repo starts is a development one: its generated secrets start with
    // `dev-`, and BROKER_URL is plain http on loopback; a production edge refuses both.
    TETHER_ENV: "development",
    RAILS_API_TOKEN: options.secrets.RAILS_API_TOKEN,
    CLIENT_JWT_SECRET: options.secrets.CLIENT_JWT_SECRET,
    BROKER_API_TOKEN: options.secrets.BROKER_API_TOKEN,
    EDGE_EVENTS_SECRET: options.secrets.EDGE_EVENTS_SECRET,
    BROKER_URL: options.brokerHttp,
  };
  // wrangler, miniflare and workerd put temporary files (a `miniflare-<hash>` directory, an
  // update-check cache) in TMPDIR, and some stay: here they go with the run's directory.
  const tmp = join(options.stateDir, "tmp");
  await mkdir(tmp, { recursive: true });
  await writeFile(
    envFile,
    Object.entries(edgeVars)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n"),
    { mode: 0o600 },
  );
  const config = options.wranglerConfig ?? join(ROOT, "wrangler.toml");
  const persistTo = join(options.stateDir, "wrangler");
  const inspectorPort = options.inspector ? await freePort(options.host) : 0;
  if (options.inspector)
    options.output?.(
      `[edge] wrangler dev, DevTools inspector on ${options.host}:${inspectorPort} (chrome://inspect)`,
    );
  // What both take alike (the order of options does not matter to either).
  const common = [
    "--config",
    config,
    "--ip",
    options.host,
    "--port",
    String(options.port),
    "--env-file",
    envFile,
    "--persist-to",
    persistTo,
    "--log-level",
    "warn",
  ];
  const args = options.inspector
    ? [
        join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
        "dev",
        ...common,
        "--inspector-port",
        String(inspectorPort),
        "--var",
        `BROKER_URL:${options.brokerHttp}`,
        "--show-interactive-dev-session=false",
      ]
    : [
        await builtEdgeDev(),
        ...common,
        "--broker-url",
        options.brokerHttp,
        ...(options.watch ? ["--watch"] : []),
      ];
  return spawnManaged({
    name: "edge",
    command: process.execPath,
    args,
    cwd: ROOT,
    // WRANGLER_LOG: the launcher's `logLevel` covers only what runs inside startWorker's
    // call; later lines (the assets' "Parsed 1 valid header rule") use wrangler's global level.
    env: { ...process.env, FORCE_COLOR: "0", ...WRANGLER_ENV, WRANGLER_LOG: "warn", TMPDIR: tmp },
    output: options.output,
    filter: workerdNoiseFilter(),
  });
}
