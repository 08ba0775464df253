import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { COMMAND_LIMITS, ErrorCode, TetherError } from "../../../protocol/src/index.js";
import { railsToken } from "../auth/rails-token.js";
import type { EdgeEnv } from "../env.js";
import { DeviceIdParams, document, errorAnswer, json, RAILS_BEARER, unauthorized } from "../openapi.js";
import { ErrorBodySchema } from "../schemas.js";
import { deviceIdParam } from "./device-param.js";

const CommandIdParam = z
  .string()
  .regex(COMMAND_LIMITS.idPattern)
  .openapi({ param: { name: "commandId", in: "path" }, example: "0b5c3c4e-7d0f-4c1e-9a52-2f1e8a1d3b77" });

const StatusBase = {
  id: z.string(),
  deviceId: z.string(),
  createdAt: z.number().int().openapi({ description: "Epoch ms: when the edge first heard of the command" }),
  updatedAt: z.number().int().openapi({ description: "Epoch ms: when its status last changed" }),
};

/** The answer of the status route: `CommandStatus` of the protocol module. */
const CommandStatusSchema = z
  .union([
    z.object({ ...StatusBase, status: z.literal("pending") }),
    z.object({ ...StatusBase, status: z.literal("queued"), expiresAt: z.number().int() }),
    z.object({ ...StatusBase, status: z.literal("done"), ok: z.literal(true), result: z.unknown() }),
    z.object({
      ...StatusBase,
      status: z.literal("done"),
      ok: z.literal(false),
      error: ErrorBodySchema.shape.error,
    }),
  ])
  .openapi("CommandStatus");

/**
 * `GET /v1/devices/{id}/commands/{commandId}` (Rails token; issue 12): where a command
 * sent through the edge stands — `pending`, `queued`, or `done` with its final result
 * and code — served by the device's DeviceChannel from its command log (kept 7 days,
 * 1,000 commands per device). 404 for an id it does not know.
 */
export const commandStatusRoute = new OpenAPIHono<{ Bindings: EdgeEnv }>();

document(
  commandStatusRoute,
  createRoute({
    method: "get",
    path: "/{id}/commands/{commandId}",
    summary: "Where a command sent through the edge stands: pending, queued, or done with its result",
    security: RAILS_BEARER,
    request: { params: DeviceIdParams.extend({ commandId: CommandIdParam }) },
    responses: {
      200: json(CommandStatusSchema, "The command's status (kept 7 days, 1,000 commands per device)"),
      400: errorAnswer("Bad device id or command id (`invalid_request`)"),
      401: unauthorized,
      404: errorAnswer("No such command for this device, or older than 7 days (`not_found`)"),
    },
  }),
);

// The Rails token is checked first, before the device id or the command id (issue 11).
commandStatusRoute.get("/:id/commands/:commandId", railsToken(), deviceIdParam(), async (c) => {
  const deviceId = c.req.param("id");
  const commandId = c.req.param("commandId");
  if (!COMMAND_LIMITS.idPattern.test(commandId)) {
    throw new TetherError(ErrorCode.InvalidRequest, "command id must be 8–128 characters of [A-Za-z0-9_-]", {
      status: 400,
    });
  }
  const status = await c.env.DEVICE_CHANNEL.getByName(deviceId).commandStatus(deviceId, commandId);
  if (!status) {
    throw new TetherError(
      ErrorCode.NotFound,
      `no command ${commandId} for ${deviceId} (or older than 7 days)`,
      {
        status: 404,
      },
    );
  }
  return c.json(status);
});
