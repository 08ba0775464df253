import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ErrorCode, parseJson, RETRY_AFTER_HEADER, TetherError } from "../../../protocol/src/index.js";
import { railsToken } from "../auth/rails-token.js";
import { bodySize } from "../body-size.js";
import { type BrokerAnswer, revokeOnBroker } from "../broker-client.js";
import { sendTrackedCommand } from "../command-tracking.js";
import type { EdgeEnv } from "../env.js";
import { MAX_COMMAND_BODY_BYTES } from "../limits.js";
import {
  DeviceIdParams,
  document,
  errorAnswer,
  json,
  RAILS_BEARER,
  retryAnswer,
  unauthorized,
} from "../openapi.js";
import { CommandBodySchema, DeviceViewSchema, describeIssue } from "../schemas.js";
import { deviceIdParam } from "./device-param.js";

/**
 * The broker's answer is the contract's answer: status, body and `Retry-After` (on its
 * 429 and 503) pass through unchanged, so Rails backs off as the broker asks.
 */
function passThrough(answer: BrokerAnswer): Response {
  const headers = new Headers({ "content-type": answer.contentType });
  if (answer.retryAfter !== null) headers.set(RETRY_AFTER_HEADER, answer.retryAfter);
  return new Response(answer.body, { status: answer.status, headers });
}

/** Rails' routes under `/v1/devices/:id` (bearer RAILS_API_TOKEN). */
export const railsRoutes = new OpenAPIHono<{ Bindings: EdgeEnv }>();

const badId = errorAnswer("Not a device id (`invalid_request`)");
const unreachable = errorAnswer(
  "The broker is unreachable, silent past the wait, or refused the edge's token (`broker_unavailable`)",
);

document(
  railsRoutes,
  createRoute({
    method: "post",
    path: "/{id}/commands",
    summary: "Send a command to a device (forwarded to the broker; its answer passes through)",
    security: RAILS_BEARER,
    request: {
      params: DeviceIdParams,
      body: { required: true, content: { "application/json": { schema: CommandBodySchema } } },
    },
    responses: {
      200: json(
        z.object({ id: z.string(), ok: z.boolean(), result: z.unknown(), error: z.unknown() }).partial(),
        "The device's result object as is (`ok` may be false)",
      ),
      202: json(z.object({ id: z.string(), queued: z.literal(true), expiresAt: z.number() }), "Queued"),
      400: errorAnswer("Bad body, JSON or device id (`invalid_request`)"),
      401: unauthorized,
      403: errorAnswer("The device's credential is revoked (`revoked`)"),
      409: errorAnswer("Device offline and `queue` false (`device_offline`)"),
      413: errorAnswer("Body above 64 KiB (`payload_too_large`)"),
      429: retryAnswer("The broker's pending or queued bound for this device (`rate_limited`)"),
      502: unreachable,
      503: retryAnswer("The broker sheds load (`overloaded`), its Retry-After passed through"),
      504: errorAnswer("No result within `timeoutMs` (`timeout`)"),
    },
  }),
);
railsRoutes.post(
  "/:id/commands",
  railsToken(),
  deviceIdParam(),
  bodySize(MAX_COMMAND_BODY_BYTES),
  async (c) => {
    const deviceId = c.req.param("id");
    const json = parseJson(await c.req.text());
    const body = json.ok ? CommandBodySchema.safeParse(json.value) : null;
    if (!body?.success) {
      const message = body ? describeIssue(body.error) : json.ok ? "invalid body" : json.message;
      throw new TetherError(ErrorCode.InvalidRequest, message, { status: 400 });
    }
    // The broker's answer is the contract's answer: status and body pass through.
    return passThrough(await sendTrackedCommand(c.env, deviceId, body.data));
  },
);

// Live revocation (CONTRACT.md additions): the broker disconnects the device on every node and refuses it.
for (const method of ["post", "delete"] as const) {
  document(
    railsRoutes,
    createRoute({
      method,
      path: "/{id}/revoke",
      summary: method === "post" ? "Revoke a device (forwarded to the broker)" : "Lift a device's revocation",
      security: RAILS_BEARER,
      request: { params: DeviceIdParams },
      responses: {
        200: json(z.object({ id: z.string(), revoked: z.boolean() }), "Done"),
        400: badId,
        401: unauthorized,
        ...(method === "delete"
          ? { 409: errorAnswer("Listed in the broker's REVOKED_DEVICES (`revoked`)") }
          : {}),
        502: unreachable,
      },
    }),
  );
}
railsRoutes.post("/:id/revoke", railsToken(), deviceIdParam(), async (c) =>
  passThrough(await revokeOnBroker(c.env, c.req.param("id"), "POST")),
);
railsRoutes.delete("/:id/revoke", railsToken(), deviceIdParam(), async (c) =>
  passThrough(await revokeOnBroker(c.env, c.req.param("id"), "DELETE")),
);

document(
  railsRoutes,
  createRoute({
    method: "get",
    path: "/{id}",
    summary: "A device's presence and last state, from its DeviceChannel (never calls the broker)",
    security: RAILS_BEARER,
    request: { params: DeviceIdParams },
    responses: { 200: json(DeviceViewSchema, "The device's view"), 400: badId, 401: unauthorized },
  }),
);
railsRoutes.get("/:id", railsToken(), deviceIdParam(), async (c) => {
  const deviceId = c.req.param("id");
  const channel = c.env.DEVICE_CHANNEL.getByName(deviceId);
  return c.json(await channel.view(deviceId));
});
