import { Hono } from "hono";
import { requireEdgeConfig } from "./config/config-guard.js";
import type { EdgeEnv } from "./env.js";
import { handleError } from "./http-errors.js";
import { clientSocketRoute } from "./routes/client-socket-route.js";
import { commandStatusRoute } from "./routes/command-status-route.js";
import { eventsRoute } from "./routes/events-route.js";
import { railsRoutes } from "./routes/rails-routes.js";
import { userRoutes } from "./routes/user-routes.js";
import { assetOrNotFound } from "./static-assets.js";

/** The stateless Worker: routes only; everything per device lives in its DeviceChannel. */
export const app = new Hono<{ Bindings: EdgeEnv }>();

// Nothing is served by an edge with a missing, weak or dev- secret (outside development).
app.use("*", requireEdgeConfig());
app.get("/healthz", (c) => c.json({ ok: true }));
app.route("/v1/devices", clientSocketRoute);
app.route("/v1/devices", railsRoutes);
app.route("/v1/users", userRoutes);
app.route("/v1/devices", commandStatusRoute);
app.route("/internal", eventsRoute);
app.notFound(assetOrNotFound);
app.onError(handleError);
