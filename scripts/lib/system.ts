import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isRecord } from "../../protocol/src/index.js";
import { allocatorSetup, parseAllocatorChoice } from "./allocator.js";
import { brokerNodeArgs } from "./broker-build.js";
import { type DevSecrets, devSecrets } from "./dev-secrets.js";
import { freePort, tryBind } from "./ports.js";
import { httpProbe, type ManagedProcess, spawnManaged, waitUntilReady } from "./processes.js";
import { workerdNoiseFilter } from "./workerd-noise.js";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export interface SystemOptions {
  host: string;
  mqttPort: number;
  httpPort: number;
  edgePort: number;
  /** Secrets to use; missing ones are generated (dev-only). */
  env?: NodeJS.ProcessEnv;
  /** Extra broker environment (e.g. SESSION_EXPIRY_SECONDS). */
  brokerEnv?: Record<string, string>;
  /** Simulated routers to start; 0 = none. */
  simulate?: number;
  idPrefix?: string;
  /** Prefixed child output; null keeps it quiet (tails still kept for errors). */
  output?: ((line: string) => void) | null;
  readyTimeoutMs?: number;
  /** The edge's wrangler config (default: the repo's wrangler.toml). */
  wranglerConfig?: string;
  /** The edge under `wrangler dev`, DevTools inspector on (`npm start -- --inspector`); default off. */
  edgeInspector?: boolean;
  /** Reload the edge when its sources change (`npm start`); default off (tests, soak, bench). */
  edgeWatch?: boolean;
  /** Aborting it (Ctrl-C during start-up) stops whatever has started and rejects. */
  signal?: AbortSignal;
}

export interface RunningSystem {
  secrets: DevSecrets;
  generated: (keyof DevSecrets)[];
  urls: { edge: string; brokerHttp: string; mqtt: string };
  processes: ManagedProcess[];
  /** The broker's STATE_DIR (memory mode: its online roster), inside the system's temp dir. */
  brokerStateDir: string;
  /** The run's private directory (edge state, env file); stop() removes it. */
  stateDir: string;
  /** Resolves with the first process that exits on its own. */
  firstExit: Promise<ManagedProcess>;
  /** Routers, then broker (it flushes its last events to the edge), then edge; idempotent. */
  stop(): Promise<void>;
  /** Stops the edge (an outage); its Durable Objects' state stays for startEdge(). */
  stopEdge(): Promise<void>;
  /** Starts the edge again on the same port and state, and waits until it answers. */
  startEdge(): Promise<void>;
  /** Kills the broker with `signal` (SIGKILL: no graceful close, as a crash). */
  killBroker(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the broker again with the same configuration (ports, STATE_DIR) and waits for it. */
  startBroker(): Promise<void>;
  /** SIGKILL to everything at once (a second Ctrl-C), and the run's directory removed. */
  kill(): void;
}

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

/**
 * Starts broker (in memory), edge (workerd, scripts/edge-dev.ts) and, optionally,
 * simulated routers — wired both ways — and waits until each answers: the
 * broker's and the edge's /healthz, then the first simulated router online as
 * seen *through the edge* (so the printed curl line works at once).
 */
export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const { secrets, generated } = devSecrets(options.env ?? process.env);
  const { host, signal } = options;
  const brokerHttp = `http://${host}:${options.httpPort}`;
  const edge = `http://${host}:${options.edgePort}`;
  const mqtt = `mqtt://${host}:${options.mqttPort}`;
  const output = options.output === undefined ? (line: string) => console.log(line) : options.output;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const state = await mkdtemp(join(tmpdir(), "tether-"));
  const byRole: { routers?: ManagedProcess; broker?: ManagedProcess; edge?: ManagedProcess } = {};
  const processes: ManagedProcess[] = [];
  const track = (role: keyof typeof byRole, managed: ManagedProcess) => {
    byRole[role] = managed;
    processes.push(managed);
    return managed;
  };

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await byRole.routers?.stop();
      await byRole.broker?.stop();
      await byRole.edge?.stop();
      await rm(state, { recursive: true, force: true });
    })();
    return stopping;
  };
  const kill = () => {
    for (const managed of processes) managed.kill();
    // Retries: a child killed a moment ago may still be closing a file in there.
    rmSync(state, { recursive: true, force: true, maxRetries: 3 });
  };

  const baseEnv = { ...process.env, FORCE_COLOR: "0" };
  const brokerStateDir = options.brokerEnv?.STATE_DIR ?? join(state, "broker-state");
  const launchEdge = async () => {
    const edgeProcess = track(
      "edge",
      await spawnEdge({
        host,
        port: options.edgePort,
        brokerHttp,
        secrets,
        stateDir: state,
        output,
        ...(options.wranglerConfig ? { wranglerConfig: options.wranglerConfig } : {}),
        inspector: options.edgeInspector === true,
        watch: options.edgeWatch === true,
      }),
    );
    await waitUntilReady({
      what: "edge",
      probe: httpProbe(`${edge}/healthz`),
      process: edgeProcess,
      timeoutMs: readyTimeoutMs,
      signal,
    });
  };
  const launchBroker = async () => {
    const allocator = allocatorSetup(parseAllocatorChoice(process.env.TETHER_ALLOCATOR), {
      arenaMax: Number(process.env.MALLOC_ARENA_MAX || "2") || 0,
      preload: process.env.LD_PRELOAD ?? "",
    });
    // The broker names its allocator itself; only a missing jemalloc needs saying here.
    if (allocator.allocator === "glibc" && process.env.TETHER_ALLOCATOR !== "glibc")
      output?.(`tether: ${allocator.message}`);
    const broker = track(
      "broker",
      spawnManaged({
        name: "broker",
        command: process.execPath,
        // The built broker (dist/broker/cli.js, rebuilt here when stale), as operators run it.
        args: brokerNodeArgs(),
        cwd: ROOT,
        env: {
          ...baseEnv,
          ...secrets,
          HOST: host,
          MQTT_PORT: String(options.mqttPort),
          HTTP_PORT: String(options.httpPort),
          EDGE_EVENTS_URL: `${edge}/internal/events`,
          // jemalloc when installed, else glibc with fewer arenas (TETHER_ALLOCATOR; docs/MEMORY.md).
          ...allocator.env,
          // This system's own online roster (memory mode), never another system's in the same cwd.
          STATE_DIR: brokerStateDir,
          ...options.brokerEnv,
        },
        output,
      }),
    );
    await waitUntilReady({
      what: "broker",
      probe: httpProbe(`${brokerHttp}/healthz`),
      process: broker,
      timeoutMs: readyTimeoutMs,
      signal,
    });
  };

  try {
    // Edge first: the broker forwards presence from its first connection on, and its
    // forwarder backs off while the edge is down, so an early router's presence would
    // reach the console late. Costs ~1 s.
    await launchEdge();
    await launchBroker();

    if (options.simulate && options.simulate > 0) {
      const idPrefix = options.idPrefix ?? "router-";
      const routers = track(
        "routers",
        spawnManaged({
          name: "routers",
          command: process.execPath,
          args: [
            "--import",
            "tsx",
            join(ROOT, "device-sdk/src/simulator/cli.ts"),
            "--routers",
            String(options.simulate),
            "--broker",
            mqtt,
            "--id-prefix",
            idPrefix,
          ],
          cwd: ROOT,
          // The fleet secret goes by environment, not argv, so `ps` does not show it.
          env: { ...baseEnv, DEVICE_SECRET: secrets.DEVICE_SECRET },
          output,
        }),
      );
      await waitUntilReady({
        what: `${idPrefix}0 online at the edge`,
        probe: httpProbe(
          `${edge}/v1/devices/${encodeURIComponent(`${idPrefix}0`)}`,
          { headers: { authorization: `Bearer ${secrets.RAILS_API_TOKEN}` } },
          (body) => isRecord(body) && body.online === true,
        ),
        process: routers,
        timeoutMs: readyTimeoutMs,
        signal,
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const firstExit = Promise.race(processes.map((p) => p.exited.then(() => p)));
  return {
    secrets,
    generated,
    urls: { edge, brokerHttp, mqtt },
    processes,
    brokerStateDir,
    stateDir: state,
    firstExit,
    stop,
    kill,
    stopEdge: async () => {
      await byRole.edge?.stop();
      // stop() SIGKILLs workerd last; the kernel frees its listening port a moment after.
      // startEdge() binds the same port, so wait for it (a clean-clone run under load saw
      // "Address already in use" otherwise).
      await waitForPortFree(options.edgePort, host);
    },
    startEdge: launchEdge,
    killBroker: async (signal = "SIGKILL") => {
      const broker = byRole.broker;
      if (!broker) return;
      if (broker.child.pid !== undefined) process.kill(-broker.child.pid, signal);
      await broker.exited;
    },
    startBroker: launchBroker,
  };
}

/** Resolves once `port` can be bound on `host` again, or rejects after `timeoutMs`. */
async function waitForPortFree(port: number, host: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await tryBind(port, host);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
