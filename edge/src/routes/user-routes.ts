import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ErrorCode, isDeviceId, parseJson, TetherError } from "../../../protocol/src/index.js";
import { railsToken } from "../auth/rails-token.js";
import { bodySize } from "../body-size.js";
import type { EdgeEnv } from "../env.js";
import { MAX_DISCONNECT_BODY_BYTES, MAX_DISCONNECT_DEVICES } from "../limits.js";
import { document, errorAnswer, json, RAILS_BEARER, unauthorized } from "../openapi.js";
import { describeIssue } from "../schemas.js";

/** Body of `POST /v1/users/{sub}/disconnect`: the devices to cut the user off from. */
const DisconnectBodySchema = z.strictObject({
  devices: z
    .array(z.string().refine(isDeviceId, "must match ^[A-Za-z0-9_-]{1,64}$"))
    .min(1)
    .max(MAX_DISCONNECT_DEVICES),
});

/** `sub` as client tokens carry it (auth/client-token.ts): 1–200 characters. */
const SubSchema = z.string().min(1).max(200);

/** Rails' routes under `/v1/users/:sub` (bearer RAILS_API_TOKEN). */
export const userRoutes = new OpenAPIHono<{ Bindings: EdgeEnv }>();

document(
  userRoutes,
  createRoute({
    method: "post",
    path: "/{sub}/disconnect",
    summary: "Cut a user off some devices: close their sockets (4403) and refuse their older tokens there",
    security: RAILS_BEARER,
    request: {
      params: z.object({ sub: SubSchema.openapi({ param: { name: "sub", in: "path" } }) }),
      body: { required: true, content: { "application/json": { schema: DisconnectBodySchema } } },
    },
    responses: {
      200: json(
        z.object({ ok: z.literal(true), devices: z.number().int(), closed: z.number().int() }),
        "Done: how many devices, how many sockets closed",
      ),
      400: errorAnswer("Bad sub or body (`invalid_request`)"),
      401: unauthorized,
      413: errorAnswer("Body above 128 KiB (`payload_too_large`)"),
    },
  }),
);

/**
 * Cuts a user off: every socket of `sub` on the named devices is closed (4403), and
 * the tokens that user already holds are refused there until they expire. Answers
 * `200 {"ok": true, "devices": n, "closed": sockets closed}`.
 */
userRoutes.post("/:sub/disconnect", railsToken(), bodySize(MAX_DISCONNECT_BODY_BYTES), async (c) => {
  const sub = SubSchema.safeParse(c.req.param("sub"));
  if (!sub.success)
    throw new TetherError(ErrorCode.InvalidRequest, "sub must be 1–200 characters", { status: 400 });
  const json = parseJson(await c.req.text());
  const body = json.ok ? DisconnectBodySchema.safeParse(json.value) : null;
  if (!body?.success) {
    const message = body ? describeIssue(body.error) : json.ok ? "invalid body" : json.message;
    throw new TetherError(ErrorCode.InvalidRequest, message, { status: 400 });
  }
  const devices = [...new Set(body.data.devices)];
  const closed = await Promise.all(
    devices.map((deviceId) => c.env.DEVICE_CHANNEL.getByName(deviceId).disconnectUser(deviceId, sub.data)),
  );
  return c.json({
    ok: true,
    devices: devices.length,
    closed: closed.reduce((sum: number, n: number) => sum + n, 0),
  });
});
