import type { Logger } from "pino";
import type { TetherEvent } from "../../protocol/src/index.js";
import type { TrackedClock } from "./clock.js";
import type { BrokerConfig } from "./config.js";
import type { DeviceStore } from "./devices/store.js";
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
}

export type BrokerSettings = BrokerConfig & BrokerLimits;

/** Where events for the edge go: the EventForwarder, or nowhere when no EDGE_EVENTS_URL is set. */
export interface EventSink {
  push(event: TetherEvent): void;
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

/** Counts and logs a device payload dropped as invalid; the connection stays. */
export function dropInvalid(ctx: BrokerContext, reason: string, details: Record<string, unknown>): void {
  ctx.metrics.invalidPayloads.inc({ reason });
  ctx.logger.warn({ ...details, reason }, "invalid payload dropped");
}
