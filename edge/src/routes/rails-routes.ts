import { Hono } from "hono";
import { ErrorCode, parseJson, TetherError } from "../../../protocol/src/index.js";
import { railsToken } from "../auth/rails-token.js";
import { bodySize } from "../body-size.js";
import { type BrokerAnswer, revokeOnBroker } from "../broker-client.js";
import { sendTrackedCommand } from "../command-tracking.js";
import type { EdgeEnv } from "../env.js";
import { MAX_COMMAND_BODY_BYTES } from "../limits.js";
import { CommandBodySchema, describeIssue } from "../schemas.js";
import { deviceIdParam } from "./device-param.js";

/** The broker's answer is the contract's answer: status and body pass through. */
function passThrough(answer: BrokerAnswer): Response {
  return new Response(answer.body, {
    status: answer.status,
    headers: { "content-type": answer.contentType },
  });
}

/** Rails' routes under `/v1/devices/:id` (bearer RAILS_API_TOKEN). */
export const railsRoutes = new Hono<{ Bindings: EdgeEnv }>();

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
railsRoutes.post("/:id/revoke", railsToken(), deviceIdParam(), async (c) =>
  passThrough(await revokeOnBroker(c.env, c.req.param("id"), "POST")),
);

railsRoutes.delete("/:id/revoke", railsToken(), deviceIdParam(), async (c) =>
  passThrough(await revokeOnBroker(c.env, c.req.param("id"), "DELETE")),
);

railsRoutes.get("/:id", railsToken(), deviceIdParam(), async (c) => {
  const deviceId = c.req.param("id");
  const channel = c.env.DEVICE_CHANNEL.getByName(deviceId);
  return c.json(await channel.view(deviceId));
});
