import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  DESIRED_LIMITS,
  ErrorCode,
  errorBody,
  jsonDepthExceeds,
  parseJson,
  TetherError,
} from "../../../protocol/src/index.js";
import { railsToken } from "../auth/rails-token.js";
import { bodySize } from "../body-size.js";
import type { EdgeEnv } from "../env.js";
import { DeviceIdParams, document, errorAnswer, RAILS_BEARER, unauthorized } from "../openapi.js";
import { deviceIdParam } from "./device-param.js";

/** A patch may be larger than the document it leaves (deletions): this bounds what is read. */
const MAX_PATCH_BYTES = 4 * DESIRED_LIMITS.maxBytes;
const MERGE_PATCH = "application/merge-patch+json";

const DesiredAnswer = z
  .object({
    version: z.number().int().openapi({ description: "The desired version now (also the ETag)" }),
    desired: z.record(z.string(), z.unknown()).openapi({ description: "The whole desired object now" }),
  })
  .openapi("Desired");

/**
 * `PATCH /v1/devices/{id}/desired` (Rails token; issue 15): an RFC 7386 merge patch of
 * the device's desired state, stored by its DeviceChannel (the source of truth) and
 * handed to the broker, which delivers it whenever the device is online.
 */
export const desiredRoute = new OpenAPIHono<{ Bindings: EdgeEnv }>();

document(
  desiredRoute,
  createRoute({
    method: "patch",
    path: "/{id}/desired",
    summary: "Change a device's desired state with a JSON merge patch (RFC 7386; null deletes a key)",
    description:
      "The device converges whenever it is online and acknowledges by reporting `desiredVersion`; `GET /v1/devices/{id}` shows desired, desiredVersion, reportedDesiredVersion, delta and desiredError.",
    security: RAILS_BEARER,
    request: {
      params: DeviceIdParams,
      headers: z.object({
        "if-match": z
          .string()
          .optional()
          .openapi({ description: 'Only if the desired version is still this one (`3` or `"3"`; `*`: any)' }),
      }),
      body: {
        required: true,
        content: {
          [MERGE_PATCH]: { schema: z.record(z.string(), z.unknown()) },
          "application/json": { schema: z.record(z.string(), z.unknown()) },
        },
      },
    },
    responses: {
      200: {
        description: "Stored (a patch that changes nothing keeps the version)",
        headers: { ETag: { description: 'The version, quoted: `"3"`', schema: { type: "string" } } },
        content: { "application/json": { schema: DesiredAnswer } },
      },
      400: errorAnswer(
        "Not a JSON object, nested deeper than 32 levels, a bad If-Match or device id (`invalid_request`)",
      ),
      401: unauthorized,
      412: errorAnswer("If-Match names a version that is no longer current (`version_conflict`)"),
      413: errorAnswer(
        `The resulting desired object is above ${DESIRED_LIMITS.maxBytes} bytes serialized, or the patch above ${MAX_PATCH_BYTES} (\`payload_too_large\`)`,
      ),
      415: errorAnswer(`Content-Type is neither ${MERGE_PATCH} nor application/json (\`invalid_request\`)`),
    },
  }),
);

desiredRoute.patch("/:id/desired", railsToken(), deviceIdParam(), bodySize(MAX_PATCH_BYTES), async (c) => {
  const deviceId = c.req.param("id");
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type !== MERGE_PATCH && type !== "application/json") {
    const message = `Content-Type must be ${MERGE_PATCH} or application/json`;
    return c.json(errorBody(ErrorCode.InvalidRequest, message), 415);
  }
  const ifVersion = parseIfMatch(c.req.header("if-match"));
  const text = await c.req.text();
  if (jsonDepthExceeds(text, DESIRED_LIMITS.maxDepth)) {
    throw new TetherError(
      ErrorCode.InvalidRequest,
      `patch nested deeper than ${DESIRED_LIMITS.maxDepth} levels`,
      {
        status: 400,
      },
    );
  }
  const json = parseJson(text);
  if (!json.ok) throw new TetherError(ErrorCode.InvalidRequest, json.message, { status: 400 });
  const answer = await c.env.DEVICE_CHANNEL.getByName(deviceId).patchDesired(deviceId, json.value, ifVersion);
  const headers = new Headers({ "content-type": "application/json" });
  if (answer.version !== null) headers.set("ETag", `"${answer.version}"`);
  return new Response(answer.body, { status: answer.status, headers });
});

/** `If-Match`: absent or `*` → null (any version); `3`, `"3"` or `W/"3"` → 3; anything else → 400. */
function parseIfMatch(header: string | undefined): number | null {
  if (header === undefined || header.trim() === "*") return null;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (!match?.[1]) {
    throw new TetherError(ErrorCode.InvalidRequest, 'If-Match must be a desired version: 3 or "3"', {
      status: 400,
    });
  }
  return Number(match[1]);
}
