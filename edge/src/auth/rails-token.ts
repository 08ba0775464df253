import type { MiddlewareHandler } from "hono";
import { ErrorCode, TetherError, timingSafeEqual } from "../../../protocol/src/index.js";
import type { EdgeEnv } from "../env.js";
import { requireSecret } from "../http-errors.js";

const BEARER = /^Bearer ([^\s]+)$/;

/** Refuses (401) any request whose `Authorization: Bearer` is not RAILS_API_TOKEN, compared in constant time. */
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
