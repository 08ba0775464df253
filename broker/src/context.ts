import type { Logger } from "pino";
import type { TetherEvent } from "../../protocol/src/index.js";
import type { TrackedClock } from "./clock.js";
import type { BrokerConfig } from "./config.js";
import type { DeviceStore } from "./devices/store.js";
import type { EncodedEvent } from "./forwarder/encoded-event.js";
import type { BrokerMetrics } from "./metrics.js";

/** Bounds and intervals that are not in the contract's configuration; options may override them. */
export interface BrokerLimits {
  /** Commands waiting for a result, all devices (→ 429). */
  maxPendingCommands: number;
  /** Commands waiting for a result, one device (→ 429). */
  maxPendingPerDevice: number;
  /** Unexpired queued commands of one device (→ 429). */
  maxQueuedPerDevice: number;
  /** Messages kept for one offline session (in-memory persistence); the oldest is dropped beyond it. */
  maxQueuedPerSession: number;
  /** How often the session reaper runs. */
  reaperIntervalMs: number;
  /** Devices reaped per reaper batch. */
  reaperBatchSize: number;
  /** Redis mode: how often a node refreshes its heartbeat and sweeps dead nodes' devices. */
  nodeHeartbeatMs: number;
  /** Redis mode: the heartbeat's TTL; a node silent this long is dead and its devices offline. */
  nodeTtlMs: number;
  /** Redis key prefix (all broker keys, Aedes persistence included); tests use one per run. */
  redisKeyPrefix: string;
  /** How often queued commands past their expiresAt are ended with `command_expired`. */
  commandExpiryIntervalMs: number;
  /** The edge refusing or silent this long turns /healthz `degraded`. */
  edgeDegradedAfterMs: number;
}

export type BrokerSettings = BrokerConfig & BrokerLimits;

/** Where events for the edge go: the EventForwarder, or nowhere when no EDGE_EVENTS_URL is set. */
export interface EventSink {
  /** An event the broker produced (presence, a command's end): serialized by the sink. */
  push(event: TetherEvent): void;
  /** An event serialized at ingest (forwarder/encoded-event.ts), so it is serialized once. */
  pushEncoded(event: EncodedEvent): void;
}

/** What every part of one broker instance shares. */
export interface BrokerContext {
  settings: BrokerSettings;
  nodeId: string;
  clock: TrackedClock;
  logger: Logger;
  metrics: BrokerMetrics;
  store: DeviceStore;
  events: EventSink;
}

/** Counts a refusal and logs it with its reason: every refusal goes through here. */
export function refuse(ctx: BrokerContext, reason: string, details: Record<string, unknown>): void {
  ctx.metrics.refusals.inc({ reason });
  ctx.logger.warn({ ...details, reason }, "refused");
}

/**
 * Counts a device payload dropped as invalid, and logs it when `log` says so (ingest
 * logs once per device per interval); the connection stays.
 */
export function dropInvalid(
  ctx: BrokerContext,
  reason: string,
  details: Record<string, unknown>,
  log = true,
): void {
  ctx.metrics.invalidPayloads.inc({ reason });
  if (log) ctx.logger.warn({ ...details, reason }, "invalid payload dropped");
}
