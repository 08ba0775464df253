import { verify } from "hono/jwt";
import { z } from "zod";
import { ErrorCode, TetherError } from "../../../protocol/src/index.js";
import type { EdgeConfig } from "../config/edge-config.js";

/** The subprotocol a client offers first; the JWT may follow it as the second value. */
export const CLIENT_SUBPROTOCOL = "tether";
/** Clock skew tolerated between Rails (which issues) and the edge (which checks): on `exp`, `nbf`, `iat`. */
export const JWT_LEEWAY_SECONDS = 60;
/** Largest token read; anything longer is refused before it is decoded. */
export const MAX_TOKEN_BYTES = 8 * 1024;

export type ClientTokenPolicy = EdgeConfig["clientJwt"];

/** Claims Rails puts in a client JWT (PROTOCOL.md, "Client tokens"). */
const ClientClaimsSchema = z.object({
  // `sub` becomes a hibernation tag (`user:<sub>`, tags are at most 256 chars).
  sub: z.string().min(1).max(200),
  exp: z.number(),
  iat: z.number().optional(),
  nbf: z.number().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  devices: z.array(z.string()).max(10_000),
  /** Devices this user may command: ids, or `true` for all of `devices`. Absent: watch only. */
  cmd: z.union([z.boolean(), z.array(z.string()).max(10_000)]).optional(),
  kind: z.enum(["mobile", "web"]),
});
export type ClientClaims = z.infer<typeof ClientClaimsSchema>;
export type ClientKind = ClientClaims["kind"];

export interface PresentedToken {
  token: string;
  /** True when the client offered the `tether` subprotocol, which must then be echoed. */
  offeredSubprotocol: boolean;
}

/**
 * Finds the JWT: the value after `tether` in Sec-WebSocket-Protocol (preferred: it
 * stays out of URLs and access logs), else `?token=` for clients that cannot set a
 * subprotocol.
 */
export function presentedToken(url: URL, protocolHeader: string | undefined): PresentedToken | null {
  const offered = (protocolHeader ?? "")
    .split(",")
    .map((value) => value.trim())
    .filter((value) => value !== "");
  const offeredSubprotocol = offered[0] === CLIENT_SUBPROTOCOL;
  const fromProtocol = offeredSubprotocol ? offered[1] : undefined;
  if (fromProtocol) return { token: fromProtocol, offeredSubprotocol };
  const fromQuery = url.searchParams.get("token");
  return fromQuery ? { token: fromQuery, offeredSubprotocol } : null;
}

const unauthorized = (message: string, cause?: unknown) =>
  new TetherError(ErrorCode.Unauthorized, message, { status: 401, cause });

const encoder = new TextEncoder();

/**
 * Verifies an HS256 client JWT and its claims. Throws 401 for a forged, malformed,
 * oversized, expired, not-yet-valid or too long-lived token, or one from another
 * issuer or audience; `nowSeconds` is injected so time is testable.
 */
export async function verifyClientToken(
  token: string,
  policy: ClientTokenPolicy,
  nowSeconds: number,
): Promise<ClientClaims> {
  if (encoder.encode(token).byteLength > MAX_TOKEN_BYTES) {
    throw unauthorized(`token larger than ${MAX_TOKEN_BYTES} bytes`);
  }
  let payload: unknown;
  try {
    // The signature only: time claims are checked below, with the leeway hono/jwt lacks.
    payload = await verify(token, policy.secret, { alg: "HS256", exp: false, nbf: false, iat: false });
  } catch (cause) {
    throw unauthorized("invalid token", cause);
  }
  const parsed = ClientClaimsSchema.safeParse(payload);
  if (!parsed.success)
    throw unauthorized("token lacks the claims sub, exp, devices, kind (or one is malformed)");
  const claims = parsed.data;
  const problem = timeProblem(claims, policy.maxTtlSeconds, nowSeconds) ?? originProblem(claims, policy);
  if (problem) throw unauthorized(problem);
  return claims;
}

function timeProblem(claims: ClientClaims, maxTtlSeconds: number, now: number): string | null {
  if (claims.exp + JWT_LEEWAY_SECONDS <= now) return "token expired";
  if (claims.nbf !== undefined && claims.nbf - JWT_LEEWAY_SECONDS > now) return "token not valid yet (nbf)";
  if (claims.iat !== undefined && claims.iat - JWT_LEEWAY_SECONDS > now)
    return "token issued in the future (iat)";
  // With `iat` the lifetime is exact; without, what is left of it must fit (skew allowed).
  const lifetime = claims.iat !== undefined ? claims.exp - claims.iat : claims.exp - now - JWT_LEEWAY_SECONDS;
  if (lifetime > maxTtlSeconds)
    return `token lives longer than ${maxTtlSeconds} s (CLIENT_JWT_MAX_TTL_SECONDS)`;
  return null;
}

function originProblem(claims: ClientClaims, policy: ClientTokenPolicy): string | null {
  if (policy.issuer !== undefined && claims.iss !== policy.issuer) return "token from another issuer (iss)";
  if (policy.audience !== undefined) {
    const audiences = typeof claims.aud === "string" ? [claims.aud] : (claims.aud ?? []);
    if (!audiences.includes(policy.audience)) return "token for another audience (aud)";
  }
  return null;
}

/** True when the claims let this user command `deviceId` (not only watch it). */
export function mayCommand(claims: ClientClaims, deviceId: string): boolean {
  return claims.cmd === true || (Array.isArray(claims.cmd) && claims.cmd.includes(deviceId));
}

/** When a socket opened with these claims must close: `exp` plus the same leeway, in epoch ms. */
export function socketDeadlineMs(claims: Pick<ClientClaims, "exp">): number {
  return (claims.exp + JWT_LEEWAY_SECONDS) * 1000;
}
