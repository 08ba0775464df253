import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import type { Logger } from "pino";
import { ErrorCode, errorBody } from "../../../protocol/src/index.js";
import type { CommandRouter } from "../commands/router.js";
import type { DesiredDelivery } from "../desired/desired-delivery.js";
import type { DeviceStore } from "../devices/store.js";
import { type CountsSource, debugMemoryRoute } from "../diagnostics/index.js";
import { clip } from "../logging/clip.js";
import type { BrokerMetrics } from "../metrics.js";
import { deviceRoutes, type RevocationControl } from "./device-routes.js";
import { type HealthSources, healthReport } from "./health.js";
import { bearerAuth } from "./middleware.js";
import { BEARER, errorAnswer, invalidRequestHook } from "./openapi.js";

export type { RevocationControl } from "./device-routes.js";

export interface HttpAppDeps {
  brokerApiToken: string;
  revocations: RevocationControl;
  /** Desired state (issue 15). */
  desired: DesiredDelivery;
  /** Live-object counts served at `GET /debug/memory`. */
  counts: CountsSource;
  router: CommandRouter;
  store: DeviceStore;
  metrics: BrokerMetrics;
  /** Largest accepted request body. */
  maxBodyBytes: number;
  logger: Logger;
  /** What /healthz watches (edge, Redis); none = always ok. */
  health?: HealthSources;
}

/** Where the API describes itself (OpenAPI 3.1, generated from the zod schemas that validate requests). */
export const OPENAPI_PATH = "/openapi.json";

const HealthReason = z.object({
  code: z.enum(["edge_unreachable", "redis_unreachable"]),
  message: z.string(),
  since: z.number().int().openapi({ description: "Epoch ms since when" }),
});

const healthz = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Health (no token): ok, or degraded while the edge or Redis is unreachable",
  responses: {
    200: {
      description: "Up and healthy",
      content: {
        "application/json": { schema: z.object({ ok: z.literal(true), status: z.literal("ok") }) },
      },
    },
    503: {
      description:
        "Degraded: the edge has refused or not answered event batches for a while, or Redis is unreachable; recovers on its own",
      content: {
        "application/json": {
          schema: z.object({
            ok: z.literal(false),
            status: z.literal("degraded"),
            reasons: z.array(HealthReason),
          }),
        },
      },
    },
  },
});

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  summary: "Prometheus metrics (tether_*, process_*, nodejs_*)",
  security: BEARER,
  responses: {
    200: { description: "Prometheus text format", content: { "text/plain": { schema: z.string() } } },
    401: errorAnswer("Missing or wrong bearer token"),
  },
});

const debugMemory = createRoute({
  method: "get",
  path: "/debug/memory",
  summary: "Process memory and live-object counts (docs/MEMORY.md)",
  security: BEARER,
  responses: {
    200: {
      description: "The reading",
      content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
    },
    401: errorAnswer("Missing or wrong bearer token"),
  },
});

const openapiRoute = createRoute({
  method: "get",
  path: OPENAPI_PATH,
  summary: "This document (no token)",
  responses: {
    200: {
      description: "OpenAPI 3.1",
      content: { "application/json": { schema: z.record(z.string(), z.unknown()) } },
    },
  },
});

/**
 * The broker's HTTP API (CONTRACT.md "Broker HTTP API"). Pure Hono: tests call
 * `app.request()` without a server; http/server.ts serves it on Node. Every route is
 * declared with `createRoute` next to its handler, so it is validated by its zod
 * schemas and appears in `GET /openapi.json`.
 */
export function createHttpApp(deps: HttpAppDeps): OpenAPIHono {
  const app = new OpenAPIHono({ defaultHook: invalidRequestHook() });

  app.openapi(healthz, (c) => {
    const report = healthReport(deps.health ?? {});
    return report.ok ? c.json(report, 200) : c.json(report, 503);
  });

  app.use("/v1/*", bearerAuth(deps.brokerApiToken));
  app.use("/metrics", bearerAuth(deps.brokerApiToken));
  app.use("/debug/*", bearerAuth(deps.brokerApiToken));
  // Documented here, served by diagnostics/debug-route.ts (a plain Hono sub-app shared with the bench).
  app.openAPIRegistry.registerPath(debugMemory);
  app.route("/", debugMemoryRoute(deps.counts));

  app.openapi(metricsRoute, async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.text(text, 200, { "content-type": deps.metrics.registry.contentType });
  });

  app.route("/v1/devices", deviceRoutes(deps));

  app.openAPIRegistry.registerComponent("securitySchemes", "brokerToken", {
    type: "http",
    scheme: "bearer",
    description: "BROKER_API_TOKEN",
  });
  // Built once, on first request: no token guards it, so it must cost nothing to ask again.
  let document: ReturnType<typeof app.getOpenAPI31Document> | undefined;
  app.openapi(openapiRoute, (c) => {
    document ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "Tether broker API",
        version: "1",
        description:
          'The broker\'s HTTP API, called by the edge (docs/PROTOCOL.md, docs/BROKER.md). Every error is `{"error":{"code","message"}}`; every 429 and 503 carries Retry-After.',
      },
    });
    return c.json(document, 200);
  });

  app.notFound((c) => c.json(errorBody(ErrorCode.NotFound, "no such route"), 404));
  app.onError((error, c) => {
    // Refusals thrown by Hono's validators: malformed JSON (400), a body that is not JSON (415).
    if (error instanceof HTTPException && error.status < 500) {
      const message = error.status === 415 ? "Content-Type must be application/json" : error.message;
      return c.json(errorBody(ErrorCode.InvalidRequest, message), error.status);
    }
    deps.logger.error({ err: error, path: clip(c.req.path) }, "http handler failed");
    return c.json(errorBody(ErrorCode.Internal, "internal error"), 500);
  });
  return app;
}
