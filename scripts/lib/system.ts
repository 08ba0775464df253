import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRecord } from "../../protocol/src/index.js";
import { deployedAllocator } from "./allocator.js";
import { brokerNodeArgs } from "./broker-build.js";
import { type DevSecrets, devSecrets } from "./dev-secrets.js";
import { spawnEdge } from "./edge-spawn.js";
import { tryBind } from "./ports.js";
import { httpProbe, type ManagedProcess, spawnManaged, waitUntilReady } from "./processes.js";
import { ROOT } from "./root.js";

export { builtEdgeDev, type EdgeSpawnOptions, spawnEdge } from "./edge-spawn.js";
export { ROOT };

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
    const allocator = deployedAllocator();
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
