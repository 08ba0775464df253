import { verify } from "hono/jwt";
import { z } from "zod";
import { ErrorCode, TetherError, timingSafeEqual } from "../../../protocol/src/index.js";
import { JWT_LEEWAY_SECONDS, MAX_TOKEN_BYTES, presentedToken } from "../auth/client-token.js";
import type { EdgeConfig } from "../config/edge-config.js";

/** A Rails token socket (no `exp`) is closed after this long; the client reconnects. */
export const RAILS_SOCKET_MAX_MS = 3_600_000;

/** Claims of a JWT that lets its holder watch jobs: `jobs` lists job ids, or `true` for all. */
const JobClaimsSchema = z.object({
  sub: z.string().min(1).max(200),
  exp: z.number(),
  iat: z.number().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  jobs: z.union([z.literal(true), z.array(z.string()).max(1_000)]),
});

const unauthorized = (message: string) => new TetherError(ErrorCode.Unauthorized, message, { status: 401 });

/**
 * Who may open `GET /v1/jobs/{id}/ws`: the Rails token (as `Authorization: Bearer`, the
 * subprotocol after `tether`, or `?token=`), or a client JWT (CLIENT_JWT_SECRET) whose
 * `jobs` claim names the job. Returns when the socket must close (epoch ms).
 */
export async function authorizeJobSocket(
  url: URL,
  headers: { authorization: string | undefined; protocol: string | undefined },
  railsToken: string,
  policy: EdgeConfig["clientJwt"],
  jobId: string,
  nowMs: number,
): Promise<{ deadline: number; offeredSubprotocol: boolean }> {
  const bearer = /^Bearer +(\S+) *$/i.exec(headers.authorization ?? "")?.[1];
  const presented = presentedToken(url, headers.protocol);
  const token = bearer ?? presented?.token;
  const offeredSubprotocol = presented?.offeredSubprotocol ?? false;
  if (token === undefined) throw unauthorized("a token is required (Rails token or a JWT with a jobs claim)");
  if (timingSafeEqual(token, railsToken))
    return { deadline: nowMs + RAILS_SOCKET_MAX_MS, offeredSubprotocol };
  if (new TextEncoder().encode(token).byteLength > MAX_TOKEN_BYTES) throw unauthorized("token too large");
  let payload: unknown;
  try {
    payload = await verify(token, policy.secret, { alg: "HS256", exp: false, nbf: false, iat: false });
  } catch {
    throw unauthorized("invalid token");
  }
  const claims = JobClaimsSchema.safeParse(payload);
  if (!claims.success) throw unauthorized("token lacks the claims sub, exp, jobs (or one is malformed)");
  const { exp, iat, iss, aud, jobs } = claims.data;
  const now = nowMs / 1000;
  if (exp + JWT_LEEWAY_SECONDS <= now) throw unauthorized("token expired");
  const lifetime = iat !== undefined ? exp - iat : exp - now - JWT_LEEWAY_SECONDS;
  if (lifetime > policy.maxTtlSeconds)
    throw unauthorized("token lives longer than CLIENT_JWT_MAX_TTL_SECONDS");
  if (policy.issuer !== undefined && iss !== policy.issuer)
    throw unauthorized("token from another issuer (iss)");
  const audiences = typeof aud === "string" ? [aud] : (aud ?? []);
  if (policy.audience !== undefined && !audiences.includes(policy.audience)) {
    throw unauthorized("token for another audience (aud)");
  }
  if (jobs !== true && !jobs.includes(jobId)) {
    throw new TetherError(ErrorCode.Forbidden, "the token does not grant this job", { status: 403 });
  }
  return { deadline: (exp + JWT_LEEWAY_SECONDS) * 1000, offeredSubprotocol };
}
