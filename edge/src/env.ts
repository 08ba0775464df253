import type { DeviceChannel } from "./channel/device-channel.js";

/**
 * The edge's bindings (wrangler.toml). Secrets are set with `wrangler secret put`
 * in production and come from `.dev.vars` locally; they are never committed.
 */
export interface EdgeEnv {
  DEVICE_CHANNEL: DurableObjectNamespace<DeviceChannel>;
  /** Static assets (the web console); absent when the edge runs without them. */
  ASSETS?: Fetcher;
  /** Base URL of the broker's HTTP API, e.g. `http://127.0.0.1:8080`. */
  BROKER_URL: string;
  BROKER_API_TOKEN: string;
  RAILS_API_TOKEN: string;
  CLIENT_JWT_SECRET: string;
  EDGE_EVENTS_SECRET: string;
  /** Optional overrides of the WebSocket bounds (see limits.ts), as decimal strings. */
  WS_MAX_SOCKETS_PER_DEVICE?: string;
  WS_MAX_FRAME_BYTES?: string;
  WS_RATE_PER_SECOND?: string;
  WS_RATE_BURST?: string;
}

/** The names of the secrets; the edge refuses to serve a route whose secret is unset. */
export type EdgeSecret = "BROKER_API_TOKEN" | "RAILS_API_TOKEN" | "CLIENT_JWT_SECRET" | "EDGE_EVENTS_SECRET";

declare global {
  namespace Cloudflare {
    // Lets `env` from cloudflare:test / cloudflare:workers carry the edge's bindings.
    interface Env extends EdgeEnv {}
  }
}
