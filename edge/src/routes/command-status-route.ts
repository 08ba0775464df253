import { Hono } from "hono";
import { COMMAND_LIMITS, ErrorCode, TetherError } from "../../../protocol/src/index.js";
import { railsToken } from "../auth/rails-token.js";
import type { EdgeEnv } from "../env.js";
import { deviceIdParam } from "./device-param.js";

/**
 * `GET /v1/devices/{id}/commands/{commandId}` (Rails token; issue 12): where a command
 * sent through the edge stands — `pending`, `queued`, or `done` with its final result
 * and code — served by the device's DeviceChannel from its command log (kept 7 days,
 * 1,000 commands per device). 404 for an id it does not know.
 */
export const commandStatusRoute = new Hono<{ Bindings: EdgeEnv }>();

commandStatusRoute.get("/:id/commands/:commandId", deviceIdParam(), railsToken(), async (c) => {
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
