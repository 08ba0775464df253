import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { ErrorCode } from "../../protocol/src/index.js";
import { errorResponse } from "./http-errors.js";

/** Refuses a body larger than `maxBytes` with 413 `payload_too_large`, in the one error shape. */
export function bodySize(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => errorResponse(413, ErrorCode.PayloadTooLarge, `body larger than ${maxBytes} bytes`),
  });
}
