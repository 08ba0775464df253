import type { Logger } from "pino";
import type { TetherEvent } from "../../protocol/src/index.js";
import type { TrackedClock } from "./clock.js";
import type { BrokerConfig } from "./config.js";
import type { DeviceStore } from "./devices/store.js";
import type { EncodedEvent } from "./forwarder/encoded-event.js";
import type { ThrottledLog } from "./logging/throttled-log.js";
import type { BrokerMetrics } from "./metrics.js";

/** Bounds and intervals that are not in the contract's configuration; options may override them. */
export interface BrokerLimits {
  /** Commands waiting for a result, all devices (→ 429). */
  maxPendingCommands: number;
  /** Commands waiting for a result, one device (→ 429): the hard cap behind COMMAND_QUEUE_TARGET_MS. */
  maxPendingPerDevice: number;
  /** How long a device's commands must all have queued above COMMAND_QUEUE_TARGET_MS before it sheds. */
  commandQueueIntervalMs: number;
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
  /** Refill of an address's failed-CONNECT bucket (AUTH_FAILURE_BURST), per second. */
  authFailuresPerSecond: number;
  /** Source addresses the admission limits track at once (least recently seen dropped beyond it). */
  maxTrackedAddresses: number;
  /** Devices the publish rate limit tracks at once (least recently seen dropped beyond it). */
  maxTrackedDevices: number;
  /** More than DEVICE_PUBLISH_BURST messages dropped within this window disconnects a device. */
  floodWindowMs: number;
  /** How often a node checks its connected devices against the revocation set (Redis: the shared one). */
  revocationCheckMs: number;
  /** Rate-limited logs: at most one line per reason per interval. */
  logIntervalMs: number;
  /** How often queued commands past their expiresAt are ended with `command_expired`. */
  commandExpiryIntervalMs: number;
  /** The edge refusing or silent this long turns /healthz `degraded`. */
  edgeDegradedAfterMs: number;
  /** Memory mode: serialized desired documents kept (LRU beyond it; issue 15). */
  maxDesiredBytes: number;
}

export type BrokerSettings = BrokerConfig & BrokerLimits;

/** Where events for the edge go: the EventForwarder, or nowhere when no EDGE_EVENTS_URL is set. */
export interface EventSink {
  /** An event the broker produced (presence, a command's end): serialized by the sink. */
  push(event: TetherEvent): void;
  /** An event serialized at ingest (forwarder/encoded-event.ts), so it is serialized once. */
  pushEncoded(event: EncodedEvent): void;
}

/**
 * Rate-limited logs (one line per key per interval, with a count; strings clipped):
 * what a device or a stranger can make happen at will is logged through these.
 */
export interface BrokerLogs {
  /** `refused`, keyed by refusal reason. */
  refusals: ThrottledLog;
  /** `invalid payload dropped`, keyed by reason. */
  invalid: ThrottledLog;
  /** Other notices a device can trigger repeatedly (e.g. a result nobody waits for), keyed by kind. */
  notices: ThrottledLog;
}

/** What every part of one broker instance shares. */
export interface BrokerContext {
  settings: BrokerSettings;
  nodeId: string;
  clock: TrackedClock;
  logger: Logger;
  logs: BrokerLogs;
  metrics: BrokerMetrics;
  store: DeviceStore;
  events: EventSink;
}

/**
 * Every reason the broker refuses something for; the label values of
 * `tether_refusals_total{reason}` (a fixed set, so the metric's cardinality is bounded).
 */
export type RefusalReason =
  // CONNECT
  | "protocol_version"
  | "bad_client_id"
  | "missing_username"
  | "id_mismatch"
  | "bad_password"
  | "revoked"
  | "flood_cooldown"
  /** The client closed its socket before its CONNECT was accepted (a timed-out attempt): no takeover. */
  | "connect_abandoned"
  // admission (before CONNECT)
  | "max_connections"
  | "unauthenticated_per_address"
  | "address_cooldown"
  | "connect_timeout"
  | "queue_limit"
  // topics
  | "sys_topic"
  | "wildcard"
  | "topic_depth"
  | "topic_not_allowed"
  | "other_device"
  | "publish_commands"
  /** A device publishing on its own desired topic, which only the broker writes (issue 15). */
  | "publish_desired"
  | "subscribe_not_commands"
  | "forward_not_allowed"
  // publishes
  | "publish_qos2"
  | "publish_rate"
  | "publish_flood"
  | "payload_too_large"
  | "malformed_packet"
  | "session_queue_full";

/** Counts a refusal and logs it (rate-limited) with its reason: every refusal goes through here. */
export function refuse(ctx: BrokerContext, reason: RefusalReason, details: Record<string, unknown>): void {
  ctx.metrics.refusals.inc({ reason });
  ctx.logs.refusals.record(reason, details);
}

/**
 * Counts a device payload dropped as invalid, and logs it (rate-limited per reason) when
 * `log` says so (ingest also logs once per device per interval); the connection stays.
 */
export function dropInvalid(
  ctx: BrokerContext,
  reason: string,
  details: Record<string, unknown>,
  log = true,
): void {
  ctx.metrics.invalidPayloads.inc({ reason });
  if (log) ctx.logs.invalid.record(reason, details);
}
