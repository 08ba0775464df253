import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type DevSecrets, devSecrets } from "./dev-secrets.js";
import { freePort } from "./ports.js";
import { type ManagedProcess, spawnManaged, waitForHttp } from "./processes.js";

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
}

export interface RunningSystem {
  secrets: DevSecrets;
  generated: (keyof DevSecrets)[];
  urls: { edge: string; brokerHttp: string; mqtt: string };
  processes: ManagedProcess[];
  /** Resolves with the first process that exits on its own. */
  firstExit: Promise<ManagedProcess>;
  stop(): Promise<void>;
}

/**
 * Starts broker (in memory), edge (wrangler dev on workerd) and, optionally,
 * simulated routers — wired both ways — and waits until each answers.
 */
export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const { secrets, generated } = devSecrets(options.env ?? process.env);
  const { host } = options;
  const brokerHttp = `http://${host}:${options.httpPort}`;
  const edge = `http://${host}:${options.edgePort}`;
  const mqtt = `mqtt://${host}:${options.mqttPort}`;
  const output = options.output === undefined ? (line: string) => console.log(line) : options.output;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const state = await mkdtemp(join(tmpdir(), "tether-"));
  const processes: ManagedProcess[] = [];

  const stop = async () => {
    await Promise.all([...processes].reverse().map((p) => p.stop()));
    await rm(state, { recursive: true, force: true });
  };

  try {
    const baseEnv = { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" };
    const broker = spawnManaged({
      name: "broker",
      command: process.execPath,
      args: ["--import", "tsx", join(ROOT, "broker/src/cli.ts")],
      cwd: ROOT,
      env: {
        ...baseEnv,
        ...secrets,
        HOST: host,
        MQTT_PORT: String(options.mqttPort),
        HTTP_PORT: String(options.httpPort),
        EDGE_EVENTS_URL: `${edge}/internal/events`,
        ...options.brokerEnv,
      },
      output,
    });
    processes.push(broker);

    // The edge reads its secrets from an env file in a private temp dir, so they
    // never appear in a process list or in wrangler's binding table.
    const envFile = join(state, "edge.env");
    const edgeVars = {
      RAILS_API_TOKEN: secrets.RAILS_API_TOKEN,
      CLIENT_JWT_SECRET: secrets.CLIENT_JWT_SECRET,
      BROKER_API_TOKEN: secrets.BROKER_API_TOKEN,
      EDGE_EVENTS_SECRET: secrets.EDGE_EVENTS_SECRET,
      BROKER_URL: brokerHttp,
    };
    await writeFile(
      envFile,
      Object.entries(edgeVars)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n"),
      { mode: 0o600 },
    );
    const edgeProcess = spawnManaged({
      name: "edge",
      command: process.execPath,
      args: [
        join(ROOT, "node_modules/wrangler/bin/wrangler.js"),
        "dev",
        "--config",
        join(ROOT, "wrangler.toml"),
        "--ip",
        host,
        "--port",
        String(options.edgePort),
        "--inspector-port",
        String(await freePort(host)),
        "--env-file",
        envFile,
        "--var",
        `BROKER_URL:${brokerHttp}`,
        "--persist-to",
        join(state, "wrangler"),
        "--show-interactive-dev-session=false",
        "--log-level",
        "warn",
      ],
      cwd: ROOT,
      env: baseEnv,
      output,
    });
    processes.push(edgeProcess);

    await Promise.all([
      waitForHttp(`${brokerHttp}/healthz`, broker, readyTimeoutMs),
      waitForHttp(`${edge}/healthz`, edgeProcess, readyTimeoutMs),
    ]);

    if (options.simulate && options.simulate > 0) {
      processes.push(
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
            "--device-secret",
            secrets.DEVICE_SECRET,
            "--id-prefix",
            options.idPrefix ?? "router-",
          ],
          cwd: ROOT,
          env: baseEnv,
          output,
        }),
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const firstExit = Promise.race(processes.map((p) => p.exited.then(() => p)));
  return { secrets, generated, urls: { edge, brokerHttp, mqtt }, processes, firstExit, stop };
}
