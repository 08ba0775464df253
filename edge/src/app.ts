import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireEdgeConfig } from "./config/config-guard.js";
import type { EdgeEnv } from "./env.js";
import { handleError } from "./http-errors.js";
import { document, json, OPENAPI_INFO, OPENAPI_PATH } from "./openapi.js";
import { clientSocketRoute } from "./routes/client-socket-route.js";
import { commandStatusRoute } from "./routes/command-status-route.js";
import { desiredRoute } from "./routes/desired-route.js";
import { eventsRoute } from "./routes/events-route.js";
import { jobRoutes } from "./routes/job-routes.js";
import { railsRoutes } from "./routes/rails-routes.js";
import { userRoutes } from "./routes/user-routes.js";
import { assetOrNotFound } from "./static-assets.js";

/** The stateless Worker: routes only; everything per device lives in its DeviceChannel. */
export const app = new OpenAPIHono<{ Bindings: EdgeEnv }>();

// Nothing is served by an edge with a missing, weak or dev- secret (outside development).
app.use("*", requireEdgeConfig());

document(
  app,
  createRoute({
    method: "get",
    path: "/healthz",
    summary: "Liveness (no token)",
    responses: { 200: json(z.object({ ok: z.literal(true) }), "Up") },
  }),
);
app.get("/healthz", (c) => c.json({ ok: true }));

app.route("/v1/devices", clientSocketRoute);
app.route("/v1/devices", railsRoutes);
app.route("/v1/users", userRoutes);
app.route("/v1/devices", commandStatusRoute);
app.route("/v1/devices", desiredRoute);
app.route("/internal", eventsRoute);
app.route("/v1/jobs", jobRoutes);

app.openAPIRegistry.registerComponent("securitySchemes", "railsToken", {
  type: "http",
  scheme: "bearer",
  description: "RAILS_API_TOKEN",
});
document(
  app,
  createRoute({
    method: "get",
    path: OPENAPI_PATH,
    summary: "This document (no token), for generating a client",
    responses: { 200: json(z.record(z.string(), z.unknown()), "OpenAPI 3.1") },
  }),
);
// Built once per isolate, on first request: no token guards it, so asking again costs nothing.
let openapiDocument: ReturnType<typeof app.getOpenAPI31Document> | undefined;
app.get(OPENAPI_PATH, (c) => {
  openapiDocument ??= app.getOpenAPI31Document(OPENAPI_INFO);
  return c.json(openapiDocument);
});
app.notFound(assetOrNotFound);
app.onError(handleError);
