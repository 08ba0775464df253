import { z } from "zod";

/**
 * Per-socket data kept in the socket's attachment (survives hibernation; at most
 * 2 KiB): who is connected, until when their token lets them, whether they may
 * command, and the socket's rate-limit token bucket.
 */
const SocketSessionSchema = z.object({
  connectionId: z.string(),
  kind: z.enum(["mobile", "web"]),
  user: z.string(),
  connectedAt: z.number(),
  /** Epoch ms at which the socket closes with 4401 unless an `auth` frame moves it. */
  deadline: z.number(),
  /** The token's `cmd` claim covers this device. */
  mayCommand: z.boolean(),
  /** Token bucket: tokens left and when they were last refilled (epoch ms). */
  tokens: z.number(),
  refilledAt: z.number(),
});
export type SocketSession = z.infer<typeof SocketSessionSchema>;

export function readSession(ws: WebSocket): SocketSession | null {
  const parsed = SocketSessionSchema.safeParse(ws.deserializeAttachment());
  return parsed.success ? parsed.data : null;
}

export function writeSession(ws: WebSocket, session: SocketSession): void {
  ws.serializeAttachment(session);
}

export interface RateLimit {
  ratePerSecond: number;
  burst: number;
}

/**
 * Takes one token from the session's bucket, refilled at `ratePerSecond` up to
 * `burst`. Pure: returns the new session and whether the frame may proceed.
 */
export function takeToken(
  session: SocketSession,
  nowMs: number,
  limit: RateLimit,
): { allowed: boolean; session: SocketSession } {
  const elapsedMs = Math.max(0, nowMs - session.refilledAt);
  const tokens = Math.min(limit.burst, session.tokens + (elapsedMs * limit.ratePerSecond) / 1000);
  if (tokens < 1) return { allowed: false, session: { ...session, tokens, refilledAt: nowMs } };
  return { allowed: true, session: { ...session, tokens: tokens - 1, refilledAt: nowMs } };
}
