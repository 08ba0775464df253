import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { ErrorCode, errorBody, timingSafeEqual } from "../../../protocol/src/index.js";

/**
 * Hono's bodyLimit reads `c.req.raw.body`, which on @hono/node-server turns the
 * lightweight request into a full web Request with a ReadableStream and an
 * AbortController: ~40 KB of garbage per command, the main source of the
 * broker's GC pauses at 500 commands/s. With a Content-Length (Node's parser
 * never reads past it) the declared size is the whole check, exactly as bodyLimit
 * does, and `c.req.json()` then reads the socket directly. Chunked bodies still
 * go through bodyLimit, which counts them.
 */
export function limitBody(maxBytes: number) {
  const tooLarge = (c: Context) =>
    c.json(errorBody(ErrorCode.PayloadTooLarge, `body above ${maxBytes} bytes`), 413);
  const counting = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return createMiddleware(async function limitRequestBody(c, next) {
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) return counting(c, next);
    if (Number.parseInt(length, 10) > maxBytes) return tooLarge(c);
    await next();
  });
}

/** `Authorization: Bearer BROKER_API_TOKEN`, compared in constant time. */
export function bearerAuth(token: string) {
  const expected = `Bearer ${token}`;
  return createMiddleware(async function requireBrokerToken(c, next) {
    const given = c.req.header("authorization") ?? "";
    if (!timingSafeEqual(given, expected)) {
      return c.json(errorBody(ErrorCode.Unauthorized, "missing or wrong bearer token"), 401);
    }
    await next();
  });
}
