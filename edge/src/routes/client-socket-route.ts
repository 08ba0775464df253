import { Hono } from "hono";
import { ErrorCode, TetherError } from "../../../protocol/src/index.js";
import { CLIENT_SUBPROTOCOL, mayCommand, presentedToken, verifyClientToken } from "../auth/client-token.js";
import { buildConnectRequest } from "../channel/connect-request.js";
import { edgeConfig } from "../config/config-guard.js";
import type { EdgeEnv } from "../env.js";
import { deviceIdParam } from "./device-param.js";

/**
 * `GET /v1/devices/:id/ws`: every check happens before the upgrade (426, 401, 403),
 * then the socket is handed to the device's DeviceChannel, which may still refuse
 * (403) a user whom Rails cut off from this device.
 */
export const clientSocketRoute = new Hono<{ Bindings: EdgeEnv }>();

clientSocketRoute.get("/:id/ws", deviceIdParam(), async (c) => {
  const deviceId = c.req.param("id");
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new TetherError(ErrorCode.InvalidRequest, "expected a WebSocket upgrade", { status: 426 });
  }
  const { clientJwt } = edgeConfig(c.env);
  const presented = presentedToken(new URL(c.req.url), c.req.header("sec-websocket-protocol"));
  if (!presented) {
    throw new TetherError(ErrorCode.Unauthorized, "a token is required (subprotocol or ?token=)", {
      status: 401,
    });
  }
  const claims = await verifyClientToken(presented.token, clientJwt, Date.now() / 1000);
  if (!claims.devices.includes(deviceId)) {
    throw new TetherError(ErrorCode.Forbidden, "the token does not grant this device", { status: 403 });
  }
  const channel = c.env.DEVICE_CHANNEL.getByName(deviceId);
  return channel.fetch(
    buildConnectRequest({
      deviceId,
      kind: claims.kind,
      user: claims.sub,
      subprotocol: presented.offeredSubprotocol ? CLIENT_SUBPROTOCOL : null,
      exp: claims.exp,
      iat: claims.iat ?? null,
      mayCommand: mayCommand(claims, deviceId),
    }),
  );
});
