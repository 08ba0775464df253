import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { ErrorCode, errorBody, RETRY_AFTER_HEADER, TetherError } from "../../protocol/src/index.js";
import { EdgeMisconfigured } from "./config/config-guard.js";
import type { EdgeEnv, EdgeSecret } from "./env.js";
import { RetryLater } from "./jobs/job-call.js";

/** A JSON response in the one error shape `{"error":{"code","message"}}`. */
export function errorResponse(status: number, code: string, message: string, id?: string): Response {
  return Response.json(errorBody(code, message, id), { status });
}

/** Reads a secret, refusing to serve (500) rather than comparing against an empty one. */
export function requireSecret(env: EdgeEnv, name: EdgeSecret): string {
  const value = env[name];
  if (typeof value !== "string" || value === "") {
    throw new TetherError(ErrorCode.Internal, `edge misconfigured: ${name} is not set`, { status: 500 });
  }
  return value;
}

/** Maps every thrown error to the one wire shape; unknown errors are logged, never echoed. */
export function handleError(error: Error, c: Context): Response {
  if (error instanceof RetryLater) {
    // Logged where it was caught (job-call.ts): a refusal to retry, not a fault.
    const refusal = errorResponse(error.status, error.code, error.message);
    refusal.headers.set(RETRY_AFTER_HEADER, String(error.retryAfterSeconds));
    return refusal;
  }
  if (error instanceof TetherError) {
    // 502s are logged where they happen (broker-client.ts), a misconfiguration once by
    // edgeConfig(); other 5xx here.
    if (error.status >= 500 && error.status !== 502 && !(error instanceof EdgeMisconfigured))
      console.error("edge error", { path: c.req.path, code: error.code, error });
    return errorResponse(error.status, error.code, error.message, error.commandId);
  }
  if (error instanceof HTTPException) {
    const status = error.status;
    const code =
      status === 413
        ? ErrorCode.PayloadTooLarge
        : status < 500
          ? ErrorCode.InvalidRequest
          : ErrorCode.Internal;
    return errorResponse(status, code, error.message || "request refused");
  }
  console.error("edge: unhandled error", { path: c.req.path, error });
  return errorResponse(500, ErrorCode.Internal, "internal error");
}
