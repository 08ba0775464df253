import type { DeviceChannel } from "./channel/device-channel.js";
import type { FleetJob } from "./jobs/fleet-job.js";
import type { JobRegistry } from "./jobs/job-registry.js";
import type { BatchLedger } from "./ledger/batch-ledger.js";

/**
 * The edge's bindings (wrangler.toml). Secrets are set with `wrangler secret put`
 * in production and come from `.dev.vars` locally; they are never committed.
 * Every value here is checked once per request by `edgeConfig()` (edge-config.ts).
 */
export interface EdgeEnv {
  DEVICE_CHANNEL: DurableObjectNamespace<DeviceChannel>;
  /** Records the batchIds of signed event batches for 600 s (replay refusal). */
  BATCH_LEDGER: DurableObjectNamespace<BatchLedger>;
  /** One object per fleet job (issue 16), and the one registry of running jobs. */
  FLEET_JOB: DurableObjectNamespace<FleetJob>;
  JOB_REGISTRY: DurableObjectNamespace<JobRegistry>;
  /** Days a finished job is kept before deletion (default 30). */
  JOB_RETENTION_DAYS?: string;
  /** Static assets (the web console); absent when the edge runs without them. */
  ASSETS?: Fetcher;
  /** `development` relaxes the secret and BROKER_URL checks; anything else (or unset) is production. */
  TETHER_ENV?: string;
  /** Base URL of the broker's HTTP API; `https://` outside development. */
  BROKER_URL: string;
  BROKER_API_TOKEN: string;
  RAILS_API_TOKEN: string;
  CLIENT_JWT_SECRET: string;
  EDGE_EVENTS_SECRET: string;
  /** Longest client JWT lifetime accepted, in seconds (default 86400). */
  CLIENT_JWT_MAX_TTL_SECONDS?: string;
  /** When set, a client JWT's `iss` / `aud` must match. */
  CLIENT_JWT_ISSUER?: string;
  CLIENT_JWT_AUDIENCE?: string;
  /** Optional overrides of the WebSocket bounds (see limits.ts), as decimal strings. */
  WS_MAX_SOCKETS_PER_DEVICE?: string;
  WS_MAX_SOCKETS_PER_USER?: string;
  WS_MAX_FRAME_BYTES?: string;
  WS_RATE_PER_SECOND?: string;
  WS_RATE_BURST?: string;
}

/** The names of the secrets; the edge refuses to serve while one is unset or weak. */
export type EdgeSecret = "BROKER_API_TOKEN" | "RAILS_API_TOKEN" | "CLIENT_JWT_SECRET" | "EDGE_EVENTS_SECRET";
export const EDGE_SECRETS: readonly EdgeSecret[] = [
  "BROKER_API_TOKEN",
  "RAILS_API_TOKEN",
  "CLIENT_JWT_SECRET",
  "EDGE_EVENTS_SECRET",
];

declare global {
  namespace Cloudflare {
    // Lets `env` from cloudflare:test / cloudflare:workers carry the edge's bindings.
    interface Env extends EdgeEnv {}
  }
}
