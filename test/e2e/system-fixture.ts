import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DevSecrets } from "../../scripts/lib/dev-secrets.js";
import { freePort } from "../../scripts/lib/ports.js";
import { ROOT, type RunningSystem, type SystemOptions, startSystem } from "../../scripts/lib/system.js";

/** Where test files find the run's shared system (test/setup/e2e-system.ts sets it). */
export const SHARED_SYSTEM_ENV = "TETHER_E2E_SYSTEM_URL";

/** What a test needs to reach a running system: its URLs and its secrets. */
export interface SystemHandle {
  urls: RunningSystem["urls"];
  secrets: DevSecrets;
}

/** A system this process started, with what it takes to stop it and remove its files. */
export interface OwnedSystem extends SystemHandle {
  /** The running system itself: stop or start its edge, kill or restart its broker. */
  system: RunningSystem;
  stop(): Promise<void>;
  /** Synchronous last resort (a process 'exit' handler): SIGKILL to every child, files removed. */
  kill(): void;
}

/** A start that lost one of its free ports to another process is tried again this often in all. */
const PORT_ATTEMPTS = 3;

/** Child output is quiet unless E2E_VERBOSE=1 (tails are still kept for start-up errors). */
const output = process.env.E2E_VERBOSE === "1" ? (line: string) => console.log(line) : null;

/**
 * A real system: broker process and edge on workerd (scripts/edge-dev.ts, as `npm start`), on free ports, with
 * known random secrets. The repo's wrangler.toml is copied into a directory that also
 * holds a developer's `.dev.vars` and `.env` with wrong secrets and a wrong BROKER_URL:
 * every test then also proves that the launcher's env file wins.
 */
export async function startOwnedSystem(options: Partial<SystemOptions> = {}): Promise<OwnedSystem> {
  const host = "127.0.0.1";
  const secret = (name: string) => `e2e-${name}-${randomUUID()}`;
  const configDir = await configWithStrayDevVars();
  const start = async () =>
    startSystem({
      wranglerConfig: join(configDir, "wrangler.toml"),
      host,
      mqttPort: await freePort(host),
      httpPort: await freePort(host),
      edgePort: await freePort(host),
      env: {
        DEVICE_SECRET: secret("device"),
        BROKER_API_TOKEN: secret("broker"),
        EDGE_EVENTS_SECRET: secret("events"),
        RAILS_API_TOKEN: secret("rails"),
        CLIENT_JWT_SECRET: secret("jwt"),
      },
      output,
      readyTimeoutMs: 60_000,
      ...options,
      // The broker sheds commands while its event loop lags (issue 17); under npm test the lag
      // is other test files' CPU on the same cores, not this broker's load: a functional test
      // answered 503 overloaded in a clean-clone run. test/broker/overload.test.ts tests the
      // shedding; MAX_COMMANDS_IN_FLIGHT stays in force here.
      // The adaptive in-flight limit likewise (COMMAND_LATENCY_TOLERANCE): another file's CPU slows
      // this broker's answers, which it would read as congestion; overload.test.ts tests it.
      brokerEnv: { MAX_EVENT_LOOP_LAG_MS: "0", COMMAND_LATENCY_TOLERANCE: "0", ...options.brokerEnv },
    });
  let system: RunningSystem;
  for (let attempt = 1; ; attempt++) {
    try {
      system = await start();
      break;
    } catch (error) {
      // A free port is found by binding port 0, and bound by the broker seconds later (the edge
      // starts first): another test's process can take it in between ("port 23341 on 127.0.0.1 is
      // already in use", nothing-lost, in an `unshare -n` run). startSystem has stopped what it
      // started; the next attempt takes fresh ports.
      if (attempt < PORT_ATTEMPTS && /already in use|EADDRINUSE/i.test(String(error))) continue;
      await rm(configDir, { recursive: true, force: true });
      throw error;
    }
  }
  return {
    urls: system.urls,
    secrets: system.secrets,
    system,
    async stop() {
      await system.stop();
      await rm(configDir, { recursive: true, force: true });
    },
    kill() {
      system.kill();
      for (const dir of [system.stateDir, configDir]) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The stray files a developer may have next to wrangler.toml; the launcher must ignore them. */
export const STRAY_DEV_VARS = {
  RAILS_API_TOKEN: "stray-dev-vars-rails-token",
  CLIENT_JWT_SECRET: "stray-dev-vars-jwt-secret",
  BROKER_API_TOKEN: "stray-dev-vars-broker-token",
  EDGE_EVENTS_SECRET: "stray-dev-vars-events-secret",
  BROKER_URL: "http://127.0.0.1:9",
};

/** A temp copy of wrangler.toml (paths made absolute) next to a stray `.dev.vars` and `.env`. */
async function configWithStrayDevVars(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tether-e2e-edge-"));
  const toml = await readFile(join(ROOT, "wrangler.toml"), "utf8");
  const rewritten = toml
    .replace(/^main = "(.+)"$/m, (_, path: string) => `main = "${join(ROOT, path)}"`)
    .replace(/^directory = "(.+)"$/m, (_, path: string) => `directory = "${join(ROOT, path)}"`);
  if (!rewritten.includes(`main = "${ROOT}`) || !rewritten.includes(`directory = "${ROOT}`)) {
    throw new Error("wrangler.toml changed shape: update configWithStrayDevVars");
  }
  const stray = Object.entries(STRAY_DEV_VARS)
    .map(([name, value]) => `${name}=${value}`)
    .join("\n");
  await writeFile(join(dir, "wrangler.toml"), rewritten);
  await writeFile(join(dir, ".dev.vars"), stray);
  await writeFile(join(dir, ".env"), stray);
  return dir;
}
