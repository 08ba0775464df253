import type { Hook } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { Env } from "hono";
import {
  COMMAND_LIMITS,
  DEVICE_ID_PATTERN,
  ErrorCode,
  errorBody,
  RETRY_AFTER_HEADER,
} from "../../../protocol/src/index.js";

/**
 * The zod schemas of the broker's HTTP API: the same objects validate requests
 * (through @hono/zod-openapi's validators) and describe them in `GET /openapi.json`.
 */

export const DeviceIdParams = z.object({
  id: z
    .string()
    .regex(DEVICE_ID_PATTERN, "not a device id: must match ^[A-Za-z0-9_-]{1,64}$")
    .openapi({ param: { name: "id", in: "path" }, example: "router-0" }),
});

/** Body of `POST /v1/devices/{id}/commands` (CONTRACT.md, "Broker HTTP API"). */
export const CommandBody = z
  .object({
    id: z
      .string()
      .regex(COMMAND_LIMITS.idPattern, "id must be 8–128 characters of [A-Za-z0-9_-]")
      .optional()
      .openapi({
        description:
          "The command's id (the edge names each command so it can report its status; a fleet job derives it from job + router, so a retry is answered once by the device); default: a fresh UUID",
      }),
    name: z
      .string()
      .regex(COMMAND_LIMITS.namePattern, "name must match [A-Za-z0-9_.-]{1,64}")
      .openapi({ description: "The device's command handler to run", example: "ping" }),
    params: z.unknown().optional().openapi({ description: "Any JSON, handed to the handler as is" }),
    timeoutMs: z
      .number()
      .int()
      .min(COMMAND_LIMITS.timeoutMs.min)
      .max(COMMAND_LIMITS.timeoutMs.max)
      .optional()
      .openapi({
        description: `How long to wait for the device's result before 504 (default ${COMMAND_LIMITS.timeoutMs.default})`,
        default: COMMAND_LIMITS.timeoutMs.default,
      }),
    queue: z.boolean().optional().openapi({
      description:
        "When the device is offline (or does not answer in time): keep the command in its persistent session and answer 202; its result later arrives as a command_result event (default false: 409 device_offline)",
      default: false,
    }),
    ttlMs: z
      .number()
      .int()
      .min(COMMAND_LIMITS.ttlMs.min)
      .max(COMMAND_LIMITS.ttlMs.max)
      .optional()
      .openapi({
        description: `With queue: the command is never delivered after now + ttlMs (default ${COMMAND_LIMITS.ttlMs.default}; clamped to SESSION_EXPIRY_SECONDS, since a reaped session ends it anyway)`,
        default: COMMAND_LIMITS.ttlMs.default,
      }),
  })
  .openapi("CommandRequest");

export const ErrorBody = z
  .object({
    id: z.string().optional().openapi({ description: "The command's id, where one exists" }),
    error: z.object({
      code: z.string().openapi({ example: ErrorCode.InvalidRequest }),
      message: z.string(),
    }),
  })
  .openapi("Error");

export const CommandResult = z
  .object({
    id: z.string(),
    ok: z.boolean(),
    result: z.unknown().optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .openapi("CommandResult", { description: "The device's result object as it sent it (ok may be false)" });

export const QueuedCommand = z
  .object({ id: z.string(), queued: z.literal(true), expiresAt: z.number().int() })
  .openapi("QueuedCommand");

export const DeviceView = z
  .object({
    id: z.string(),
    online: z.boolean(),
    since: z.number().int().nullable(),
    lastSeen: z.number().int().nullable(),
    state: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi("DeviceView");

const retryAfter = {
  [RETRY_AFTER_HEADER]: {
    description: "Whole seconds after which a retry may succeed",
    schema: { type: "integer" as const, minimum: 1 },
  },
};

/** A JSON answer in the one error shape, documented with its meaning. */
export function errorAnswer(description: string) {
  return { description, content: { "application/json": { schema: ErrorBody } } };
}

/** A 429 or 503: the one error shape plus `Retry-After`. */
export function retryAnswer(description: string) {
  return { ...errorAnswer(description), headers: retryAfter };
}

export const BEARER = [{ brokerToken: [] }];

/**
 * Failed validation of a path parameter or body → `400 invalid_request` naming
 * every field at fault (the one error shape, never zod's own).
 */
export function invalidRequestHook<E extends Env>(onInvalid?: () => void): Hook<unknown, E, string, unknown> {
  return (result, c) => {
    if (result.success) return;
    onInvalid?.();
    const message = result.error.issues
      .map((issue) => `${issue.path.map(String).join(".") || "body"}: ${issue.message}`)
      .join("; ");
    return c.json(errorBody(ErrorCode.InvalidRequest, message), 400);
  };
}

/**
 * Hono's typed responses cannot follow a status chosen at run time (the router's
 * reply). Each such answer is declared in its route's `responses`, and
 * test/openapi/documents.test.ts checks the statuses it provokes against the document.
 */
export function declared(response: Response): never {
  return response as never;
}
