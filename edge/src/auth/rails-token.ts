import type { MiddlewareHandler } from "hono";
import { ErrorCode, TetherError, timingSafeEqual } from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";
import { requireSecret } from "../http-errors.js";

/** The auth scheme is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are `Bearer`. */
const BEARER = /^Bearer +([^\s]+) *$/i;

/**
 * Refuses (401) any request whose `Authorization: Bearer` is not RAILS_API_TOKEN,
 * compared in constant time. It comes first on every Rails route, before any input
 * is validated, so nobody learns what the edge would accept without the token.
 */
export function railsToken(): MiddlewareHandler<{ Bindings: EdgeEnv }> {
  return async function railsBearer(c, next) {
    const expected = requireSecret(c.env, "RAILS_API_TOKEN");
    const presented = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    if (presented === undefined || !timingSafeEqual(presented, expected)) {
      throw new TetherError(ErrorCode.Unauthorized, "missing or wrong bearer token", { status: 401 });
    }
    await next();
  };
}
