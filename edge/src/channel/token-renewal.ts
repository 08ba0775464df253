import { ErrorCode, TetherError } from "../../../protocol/src/index.js";
import {
  type ClientTokenPolicy,
  mayCommand,
  socketDeadlineMs,
  verifyClientToken,
} from "../auth/client-token.js";
import type { AuthAcceptedFrame } from "./frames.js";
import type { SocketSession } from "./socket-session.js";
import type { UserCutoffs } from "./user-cutoffs.js";

export type Renewal =
  | { ok: true; session: SocketSession; frame: AuthAcceptedFrame }
  | { ok: false; code: string; message: string };

/**
 * Checks the token of an `auth` frame as the upgrade would (signature, claims,
 * leeway, lifetime, issuer, audience), and that it is for the same user and still
 * lists the device. Accepted: the session with its new deadline and `cmd` grant.
 * Refused: why; the socket keeps its old deadline.
 */
export async function renewSession(
  session: SocketSession,
  token: string,
  context: { deviceId: string; policy: ClientTokenPolicy; cutoffs: UserCutoffs; nowMs: number },
): Promise<Renewal> {
  const { deviceId, policy, cutoffs, nowMs } = context;
  let claims: Awaited<ReturnType<typeof verifyClientToken>>;
  try {
    claims = await verifyClientToken(token, policy, nowMs / 1000);
  } catch (error) {
    if (error instanceof TetherError) return { ok: false, code: error.code, message: error.message };
    throw error;
  }
  const forbidden = (message: string): Renewal => ({ ok: false, code: ErrorCode.Forbidden, message });
  if (claims.sub !== session.user) return forbidden("the token is for another user (sub)");
  if (!claims.devices.includes(deviceId)) return forbidden("the token does not grant this device");
  if (cutoffs.refuses(claims.sub, claims.iat ?? null, nowMs)) {
    return forbidden("access to this device was withdrawn; the token predates it");
  }
  const commands = mayCommand(claims, deviceId);
  return {
    ok: true,
    session: { ...session, deadline: socketDeadlineMs(claims), mayCommand: commands },
    frame: { type: "auth", ok: true, exp: claims.exp, mayCommand: commands },
  };
}
