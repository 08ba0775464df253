import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { httpProbe, waitUntilReady } from "../scripts/lib/processes.js";
import { spawnEdge } from "../scripts/lib/system.js";

/** The soak's own edge: workerd through scripts/edge-dev.ts (inspector off), as `npm start` runs it. */
export interface LocalEdge {
  url: string;
  railsToken: string;
  clientJwtSecret: string;
  /** Stops the edge process (an outage); its Durable Objects' state stays for resume(). */
  pause(): Promise<void>;
  /** Starts it again on the same port and state, and waits for its /healthz. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts the edge on `port` in front of the broker at `brokerHttp` (which need not
 * be up yet: the Worker calls it per request), sharing the broker's API token and
 * events secret, and waits for its /healthz. Its output goes to `logFile`.
 */
export async function startLocalEdge(options: {
  port: number;
  brokerHttp: string;
  brokerApiToken: string;
  eventsSecret: string;
  logFile: string;
}): Promise<LocalEdge> {
  const host = "127.0.0.1";
  const stateDir = await mkdtemp(join(tmpdir(), "tether-soak-edge-"));
  const log = createWriteStream(options.logFile);
  const secrets = {
    RAILS_API_TOKEN: randomBytes(24).toString("base64url"),
    CLIENT_JWT_SECRET: randomBytes(24).toString("base64url"),
    BROKER_API_TOKEN: options.brokerApiToken,
    EDGE_EVENTS_SECRET: options.eventsSecret,
  };
  const url = `http://${host}:${options.port}`;
  const launch = async () => {
    const edge = await spawnEdge({
      host,
      port: options.port,
      brokerHttp: options.brokerHttp,
      secrets,
      stateDir,
      output: (line) => log.write(`${line}\n`),
    });
    try {
      await waitUntilReady({
        what: "edge",
        probe: httpProbe(`${url}/healthz`),
        process: edge,
        timeoutMs: 90_000,
      });
    } catch (error) {
      await edge.stop();
      throw error;
    }
    return edge;
  };
  let edge: Awaited<ReturnType<typeof spawnEdge>> | null = null;
  const stop = async () => {
    await edge?.stop();
    edge = null;
    log.end();
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    edge = await launch();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    railsToken: secrets.RAILS_API_TOKEN,
    clientJwtSecret: secrets.CLIENT_JWT_SECRET,
    pause: async () => {
      await edge?.stop();
      edge = null;
    },
    resume: async () => {
      edge ??= await launch();
    },
    stop,
  };
}
