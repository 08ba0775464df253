import { EVENT_BATCH_LIMITS } from "../../protocol/src/index.js";
import type { EdgeEnv } from "./env.js";

/**
 * Bounds of one device's live channel. Each is answered with an error frame or a
 * close code that says why (docs/EDGE.md, "Bounds").
 */
export interface ChannelLimits {
  /** Hibernatable sockets per device; one more is told `too_many_sockets` and closed 1013. */
  maxSockets: number;
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
  maxFrameBytes: 16 * 1024,
  ratePerSecond: 5,
  rateBurst: 20,
  recentEvents: 50,
};

/** Largest request body the edge reads (Rails commands, broker event batches). */
export const MAX_COMMAND_BODY_BYTES = 64 * 1024;
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
    maxFrameBytes: positiveInt(env.WS_MAX_FRAME_BYTES, DEFAULT_LIMITS.maxFrameBytes),
    ratePerSecond: positiveInt(env.WS_RATE_PER_SECOND, DEFAULT_LIMITS.ratePerSecond),
    rateBurst: positiveInt(env.WS_RATE_BURST, DEFAULT_LIMITS.rateBurst),
    recentEvents: DEFAULT_LIMITS.recentEvents,
  };
}
