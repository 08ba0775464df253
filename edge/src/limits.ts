import { EVENT_BATCH_LIMITS } from "../../protocol/src/index.js";
import type { EdgeEnv } from "./env.js";

/**
 * Bounds of one device's live channel. Each is answered with an error frame or a
 * close code that says why (docs/EDGE.md, "Bounds").
 */
export interface ChannelLimits {
  /** Hibernatable sockets per device; one more is told `too_many_sockets` and closed 1013. */
  maxSockets: number;
  /** Sockets of one user (`sub`) per device; one more is refused the same way. */
  maxSocketsPerUser: number;
  /**
   * WebSocket commands waiting for the broker, per device: half of the broker's
   * 16 pending commands per device (BROKER.md), so Rails always has the other 8.
   * One more is answered `command_result ok:false rate_limited` without calling the broker.
   */
  maxCommandsInFlight: number;
  /** The same, per user of one device: one user cannot take all of the sockets' share. */
  maxCommandsInFlightPerUser: number;
  /** Largest client frame in bytes; a larger one is dropped with a `frame_too_large` error frame. */
  maxFrameBytes: number;
  /** Token bucket per socket: refill rate (frames per second) and burst size. */
  ratePerSecond: number;
  rateBurst: number;
  /** Events kept in the snapshot's ring of recent events. */
  recentEvents: number;
}

export const DEFAULT_LIMITS: ChannelLimits = {
  maxSockets: 100,
  maxSocketsPerUser: 5,
  maxCommandsInFlight: 8,
  maxCommandsInFlightPerUser: 4,
  maxFrameBytes: 16 * 1024,
  ratePerSecond: 5,
  rateBurst: 20,
  recentEvents: 50,
};

/** Largest request body the edge reads (Rails commands, broker event batches, cut-offs). */
export const MAX_COMMAND_BODY_BYTES = 64 * 1024;
export const MAX_DISCONNECT_BODY_BYTES = 128 * 1024;
/** Devices one `POST /v1/users/{sub}/disconnect` may name (one DeviceChannel call each). */
export const MAX_DISCONNECT_DEVICES = 1000;
/** Users cut off from one device that its channel remembers (the soonest to expire goes first). */
export const MAX_CUTOFFS_PER_DEVICE = 1000;
/** The broker builds its batches under this same constant (protocol/src/limits.ts). */
export const MAX_EVENTS_BODY_BYTES = EVENT_BATCH_LIMITS.maxBodyBytes;
/** Extra time the edge waits for the broker beyond the command's own timeout. */
export const BROKER_GRACE_MS = 5_000;

function positiveInt(text: string | undefined, fallback: number): number {
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  return Number.isInteger(value) && value > 0 ? value : fallback;
}

/** The limits, with optional overrides from vars (tests use small ones). */
export function channelLimits(env: EdgeEnv): ChannelLimits {
  return {
    maxSockets: positiveInt(env.WS_MAX_SOCKETS_PER_DEVICE, DEFAULT_LIMITS.maxSockets),
    maxSocketsPerUser: positiveInt(env.WS_MAX_SOCKETS_PER_USER, DEFAULT_LIMITS.maxSocketsPerUser),
    maxCommandsInFlight: DEFAULT_LIMITS.maxCommandsInFlight,
    maxCommandsInFlightPerUser: DEFAULT_LIMITS.maxCommandsInFlightPerUser,
    maxFrameBytes: positiveInt(env.WS_MAX_FRAME_BYTES, DEFAULT_LIMITS.maxFrameBytes),
    ratePerSecond: positiveInt(env.WS_RATE_PER_SECOND, DEFAULT_LIMITS.ratePerSecond),
    rateBurst: positiveInt(env.WS_RATE_BURST, DEFAULT_LIMITS.rateBurst),
    recentEvents: DEFAULT_LIMITS.recentEvents,
  };
}
