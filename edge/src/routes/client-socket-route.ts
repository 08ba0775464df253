import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ErrorCode, TetherError } from "../../../protocol/src/index.js";
import { CLIENT_SUBPROTOCOL, mayCommand, presentedToken, verifyClientToken } from "../auth/client-token.js";
import { buildConnectRequest } from "../channel/connect-request.js";
import { edgeConfig } from "../config/config-guard.js";
import type { EdgeEnv } from "../env.js";
import { DeviceIdParams, document, errorAnswer } from "../openapi.js";
import { deviceIdParam } from "./device-param.js";

/**
 * `GET /v1/devices/:id/ws`: every check happens before the upgrade (426, 401, 403),
 * then the socket is handed to the device's DeviceChannel, which may still refuse
 * (403) a user whom Rails cut off from this device.
 */
export const clientSocketRoute = new OpenAPIHono<{ Bindings: EdgeEnv }>();

document(
  clientSocketRoute,
  createRoute({
    method: "get",
    path: "/{id}/ws",
    summary: "WebSocket of a mobile or web client watching (and maybe commanding) a device",
    description:
      'A client JWT (HS256, issued by Rails) as the second `Sec-WebSocket-Protocol` value after `tether`, or in `?token=`. Frames: docs/PROTOCOL.md, "Client tokens and the WebSocket".',
    request: {
      params: DeviceIdParams,
      query: z.object({ token: z.string().optional() }),
      headers: z.object({ upgrade: z.literal("websocket"), "sec-websocket-protocol": z.string().optional() }),
    },
    responses: {
      101: { description: "Switched to the WebSocket; `snapshot` is the first frame" },
      400: errorAnswer("Not a device id (`invalid_request`)"),
      401: errorAnswer("No, forged, expired or too long-lived token (`unauthorized`)"),
      403: errorAnswer("The token does not grant this device, or Rails cut this user off (`forbidden`)"),
      426: errorAnswer("Not a WebSocket upgrade"),
    },
  }),
);

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
