import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "hono";
import { DEVICE_ID_PATTERN, RETRY_AFTER_HEADER } from "../../protocol/src/index.js";
import { ErrorBodySchema } from "./schemas.js";

/**
 * OpenAPI 3.1 of the edge (`GET /openapi.json`), generated from the zod schemas the
 * routes validate with (schemas.ts and each route file). Each route's description is
 * a `createRoute({...})` next to it, registered with `document(routes, route)`.
 */

export const OPENAPI_PATH = "/openapi.json";

export const RAILS_BEARER = [{ railsToken: [] }];

export const DeviceIdParams = z.object({
  id: z
    .string()
    .regex(DEVICE_ID_PATTERN)
    .openapi({ param: { name: "id", in: "path" }, example: "router-0" }),
});

export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** An answer in the one error shape. */
export const errorAnswer = (description: string) => json(ErrorBodySchema, description);

/** A 429 or 503: the one error shape plus `Retry-After`. */
export const retryAnswer = (description: string) => ({
  ...errorAnswer(description),
  headers: {
    [RETRY_AFTER_HEADER]: {
      description: "Whole seconds after which a retry may succeed",
      schema: { type: "integer" as const, minimum: 1 },
    },
  },
});

export const unauthorized = errorAnswer(
  "Missing or wrong Rails bearer token (`unauthorized`), checked first",
);

/** Adds a route's description to the document (its handlers are mounted beside it, as usual). */
export function document<E extends Env>(
  routes: OpenAPIHono<E>,
  route: Parameters<OpenAPIHono<E>["openAPIRegistry"]["registerPath"]>[0],
): void {
  routes.openAPIRegistry.registerPath(route);
}

/** The document's header; `app.getOpenAPI31Document(OPENAPI_INFO)`. */
export const OPENAPI_INFO = {
  openapi: "3.1.0",
  info: {
    title: "Tether edge API",
    version: "1",
    description:
      'Rails\' API on the edge (docs/EDGE.md, docs/PROTOCOL.md). Every error is `{"error":{"code","message"}}`; every 429 and 503 carries Retry-After (the broker\'s passes through unchanged).',
  },
};
