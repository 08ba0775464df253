import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { DESIRED_LIMITS, desiredBoundsRefusal, ErrorCode, errorBody } from "../../../protocol/src/index.js";
import type { DesiredDelivery } from "../desired/desired-delivery.js";
import { limitBody } from "./middleware.js";
import { BEARER, DeviceIdParams, declared, errorAnswer, invalidRequestHook } from "./openapi.js";

/** The body may carry a document of DESIRED_LIMITS.maxBytes plus its envelope. */
const MAX_DESIRED_BODY_BYTES = DESIRED_LIMITS.maxBytes + 1024;

const DesiredDocumentBody = z
  .object({
    version: z
      .number()
      .int()
      .min(1)
      .max(DESIRED_LIMITS.maxVersion)
      .openapi({ description: "The document's version (the edge's; grows by one per change)", example: 3 }),
    desired: z
      .record(z.string(), z.unknown())
      .openapi({ description: `The whole desired object (≤ ${DESIRED_LIMITS.maxBytes} bytes serialized)` }),
  })
  .openapi("DesiredDocument");

const putDesired = createRoute({
  middleware: [limitBody(MAX_DESIRED_BODY_BYTES)],
  method: "put",
  path: "/{id}/desired",
  summary:
    "Hand the broker a device's latest desired document (the edge does); delivered on devices/{id}/desired when online and on every subscribe",
  security: BEARER,
  request: {
    params: DeviceIdParams,
    body: { required: true, content: { "application/json": { schema: DesiredDocumentBody } } },
  },
  responses: {
    200: {
      description:
        "`stored` (newer than the one held), `same` (that version is held; sent again if online) or `stale` (a newer one is held and kept)",
      content: {
        "application/json": {
          schema: z.object({
            id: z.string(),
            version: z.number().int().openapi({ description: "The version held now" }),
            outcome: z.enum(["stored", "same", "stale"]),
          }),
        },
      },
    },
    400: errorAnswer("Bad body, or `desired` nested deeper than 32 levels (`invalid_request`)"),
    401: errorAnswer("Missing or wrong bearer token (`unauthorized`)"),
    413: errorAnswer(`\`desired\` above ${DESIRED_LIMITS.maxBytes} bytes serialized (\`payload_too_large\`)`),
    415: errorAnswer("Content-Type is not application/json (`invalid_request`)"),
  },
});

/** `PUT /v1/devices/{id}/desired` (issue 15); mounted under `/v1/devices` by device-routes.ts. */
export function desiredRoute(desired: DesiredDelivery): OpenAPIHono {
  const routes = new OpenAPIHono({ defaultHook: invalidRequestHook() });
  routes.openapi(putDesired, async (c) => {
    const deviceId = c.req.valid("param").id;
    const doc = c.req.valid("json");
    const refusal = desiredBoundsRefusal(doc.desired);
    if (refusal) {
      const status = refusal.code === ErrorCode.PayloadTooLarge ? 413 : 400;
      return declared(c.json(errorBody(refusal.code, refusal.message), status));
    }
    const { outcome, current } = await desired.put(deviceId, doc);
    return c.json({ id: deviceId, version: current.version, outcome }, 200);
  });
  return routes;
}
