/**
 * What a device channel lets in: one more socket (the per-device and per-user socket
 * bounds) and one more frame on a socket (its rate-limit bucket, then its size), plus
 * the `id` of a refused frame so the client can match the error.
 */
import { ErrorCode } from "../../../protocol/src/index.js";
import type { ChannelLimits } from "../limits.js";
import { sendFrame } from "./broadcast.js";
import { errorFrame } from "./frames.js";
import { type SocketSession, takeToken, writeSession } from "./socket-session.js";

const encoder = new TextEncoder();

/** The tag every socket of `user` carries, so a channel can find them. */
export const userTag = (user: string) => `user:${user}`;

/** Why one more socket of `user` is refused (device bound, then user bound), or null. */
export function socketBoundRefusal(
  ctx: DurableObjectState,
  limits: ChannelLimits,
  user: string,
): string | null {
  const { maxSockets, maxSocketsPerUser } = limits;
  if (ctx.getWebSockets().length >= maxSockets) return `at most ${maxSockets} sockets per device`;
  if (ctx.getWebSockets(userTag(user)).length >= maxSocketsPerUser) {
    return `at most ${maxSocketsPerUser} sockets per user and device (WS_MAX_SOCKETS_PER_USER)`;
  }
  return null;
}

/** Rate limit, then size: false (with an error frame sent) when the frame is refused. */
export function admitFrame(
  ws: WebSocket,
  session: SocketSession,
  message: string | ArrayBuffer,
  limits: ChannelLimits,
  nowMs: number,
): boolean {
  const taken = takeToken(session, nowMs, {
    ratePerSecond: limits.ratePerSecond,
    burst: limits.rateBurst,
  });
  writeSession(ws, taken.session);
  if (!taken.allowed) {
    const rate = `${limits.ratePerSecond}/s, burst ${limits.rateBurst}`;
    sendFrame(ws, errorFrame(ErrorCode.RateLimited, `too many frames (${rate})`));
    return false;
  }
  const size = typeof message === "string" ? encoder.encode(message).byteLength : message.byteLength;
  if (size > limits.maxFrameBytes) {
    const limit = `${size} bytes > ${limits.maxFrameBytes}`;
    sendFrame(ws, errorFrame(ErrorCode.FrameTooLarge, `frame dropped (${limit})`));
    return false;
  }
  return true;
}

/** The `id` of a refused frame, when it has a usable one, so the client can match the error. */
export function frameId(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || !("id" in value)) return undefined;
  const id = value.id;
  return typeof id === "string" && id.length > 0 && id.length <= 128 ? id : undefined;
}
