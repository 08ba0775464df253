import type { MiddlewareHandler } from "hono";
import { ErrorCode, isDeviceId, TetherError } from "../../../protocol/src/index.js";

/** Refuses (400) a `:id` path parameter that is not a device id, before any other work. */
export function deviceIdParam(): MiddlewareHandler {
  return async function checkDeviceId(c, next) {
    if (!isDeviceId(c.req.param("id"))) {
      throw new TetherError(ErrorCode.InvalidRequest, "device id must match ^[A-Za-z0-9_-]{1,64}$", {
        status: 400,
      });
    }
    await next();
  };
}
