import type { Logger } from "pino";
import type { BrokerMetrics } from "../metrics.js";
import type { Timers } from "./post-batch.js";

/** FORWARDER_MAX_BYTES's default: device events held while the edge is slow or down. */
export const DEFAULT_FORWARDER_MAX_BYTES = 32 * 1024 * 1024;

export interface EventForwarderOptions {
  /** EDGE_EVENTS_URL: the edge's `/internal/events`. */
  url: string;
  /** EDGE_EVENTS_SECRET: signs each batch (`Tether-Signature`). */
  secret: string;
  /** FORWARDER_MAX_BYTES: bytes of events held while the edge is slow or down (default 32 MiB). */
  maxBytes?: number;
  /** Largest request body (default: the edge's limit, EVENT_BATCH_LIMITS.maxBodyBytes). */
  maxBatchBytes?: number;
  /** Most events per request (default: the edge's limit, EVENT_BATCH_LIMITS.maxEvents). */
  maxBatchEvents?: number;
  /** How long a partial batch waits for more events (default 25 ms). */
  flushIntervalMs?: number;
  /** First retry delay before jitter (default 250 ms); doubles per consecutive failure. */
  baseRetryDelayMs?: number;
  /** Cap of the retry delay (default 10 s): the longest the edge's view waits after it is back. */
  maxRetryDelayMs?: number;
  /** A request slower than this is aborted and retried (default 10 s). */
  requestTimeoutMs?: number;
  /** Failing this long makes edgeProblem() report it (default 15 s). */
  degradedAfterMs?: number;
  fetch?: typeof fetch;
  /** Epoch ms; signs batches and paces logs. */
  now?: () => number;
  /** In [0, 1); jitters retry delays. */
  random?: () => number;
  logger?: Logger;
  metrics?: BrokerMetrics;
  /** Injected so tests can see that no timer outlives close(). */
  timers?: Timers;
}
