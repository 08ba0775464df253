import { verify } from "hono/jwt";
import { z } from "zod";
import { ErrorCode, TetherError } from "../../../protocol/src/index.js";

/** The subprotocol a client offers first; the JWT may follow it as the second value. */
export const CLIENT_SUBPROTOCOL = "tether";

/** Claims Rails puts in a client JWT (CONTRACT.md, "Edge HTTP and WebSocket API"). */
const ClientClaimsSchema = z.object({
  // `sub` becomes a hibernation tag (`user:<sub>`, tags are at most 256 chars).
  sub: z.string().min(1).max(200),
  exp: z.number(),
  devices: z.array(z.string()).max(10_000),
  kind: z.enum(["mobile", "web"]),
});
export type ClientClaims = z.infer<typeof ClientClaimsSchema>;
export type ClientKind = ClientClaims["kind"];

export interface PresentedToken {
  token: string;
  /** True when the client offered the `tether` subprotocol, which must then be echoed. */
  offeredSubprotocol: boolean;
}

/** Finds the JWT in `?token=` or as the value after `tether` in Sec-WebSocket-Protocol. */
export function presentedToken(url: URL, protocolHeader: string | undefined): PresentedToken | null {
  const offered = (protocolHeader ?? "")
    .split(",")
    .map((value) => value.trim())
    .filter((value) => value !== "");
  const offeredSubprotocol = offered[0] === CLIENT_SUBPROTOCOL;
  const fromQuery = url.searchParams.get("token");
  if (fromQuery) return { token: fromQuery, offeredSubprotocol };
  const fromProtocol = offeredSubprotocol ? offered[1] : undefined;
  return fromProtocol ? { token: fromProtocol, offeredSubprotocol } : null;
}

const unauthorized = (message: string, cause?: unknown) =>
  new TetherError(ErrorCode.Unauthorized, message, { status: 401, cause });

/**
 * Verifies an HS256 client JWT and its claims. Throws 401 for a forged, malformed
 * or expired token; `nowSeconds` is injected so expiry is testable.
 */
export async function verifyClientToken(
  token: string,
  secret: string,
  nowSeconds: number,
): Promise<ClientClaims> {
  let payload: unknown;
  try {
    payload = await verify(token, secret, "HS256");
  } catch (cause) {
    const expired = cause instanceof Error && cause.name === "JwtTokenExpired";
    throw unauthorized(expired ? "token expired" : "invalid token", cause);
  }
  const claims = ClientClaimsSchema.safeParse(payload);
  if (!claims.success) throw unauthorized("token lacks the claims sub, exp, devices, kind");
  if (claims.data.exp <= nowSeconds) throw unauthorized("token expired");
  return claims.data;
}
