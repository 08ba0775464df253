import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { Logger } from "pino";
import { z } from "zod";
import {
  COMMAND_LIMITS,
  type DeviceView,
  ErrorCode,
  errorBody,
  isDeviceId,
  timingSafeEqual,
} from "../../../protocol/src/index.js";
import type { CommandRouter } from "../commands/router.js";
import type { DeviceStore } from "../devices/store.js";
import { type CountsSource, debugMemoryRoute } from "../diagnostics/index.js";
import { clip } from "../logging/clip.js";
import type { BrokerMetrics } from "../metrics.js";
import { type HealthSources, healthReport } from "./health.js";

/** What the revoke routes call (devices/revocation.ts). */
export interface RevocationControl {
  revoke(deviceId: string): Promise<void>;
  /** False when the device is in REVOKED_DEVICES, which only a configuration change lifts. */
  unrevoke(deviceId: string): Promise<boolean>;
}

export interface HttpAppDeps {
  brokerApiToken: string;
  revocations: RevocationControl;
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

const commandBody = z.object({
  id: z.string().regex(COMMAND_LIMITS.idPattern, "id must be 8–128 characters of [A-Za-z0-9_-]").optional(),
  name: z.string().regex(COMMAND_LIMITS.namePattern, "name must match [A-Za-z0-9_.-]{1,64}"),
  params: z.unknown().optional(),
  timeoutMs: z.number().int().min(COMMAND_LIMITS.timeoutMs.min).max(COMMAND_LIMITS.timeoutMs.max).optional(),
  queue: z.boolean().optional(),
  ttlMs: z.number().int().min(COMMAND_LIMITS.ttlMs.min).max(COMMAND_LIMITS.ttlMs.max).optional(),
});

/**
 * Hono's bodyLimit reads `c.req.raw.body`, which on @hono/node-server turns the
 * lightweight request into a full web Request with a ReadableStream and an
 * AbortController: ~40 KB of garbage per command, the main source of the
 * broker's GC pauses at 500 commands/s. With a Content-Length (Node's parser
 * never reads past it) the declared size is the whole check, exactly as bodyLimit
 * does, and `c.req.json()` then reads the socket directly. Chunked bodies still
 * go through bodyLimit, which counts them.
 */
function limitBody(maxBytes: number) {
  const tooLarge = (c: Context) =>
    c.json(errorBody(ErrorCode.PayloadTooLarge, `body above ${maxBytes} bytes`), 413);
  const counting = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return createMiddleware(async function limitRequestBody(c, next) {
    const length = c.req.header("content-length");
    if (length === undefined || c.req.header("transfer-encoding") !== undefined) return counting(c, next);
    if (Number.parseInt(length, 10) > maxBytes) return tooLarge(c);
    await next();
  });
}

/** `Authorization: Bearer BROKER_API_TOKEN`, compared in constant time. */
function bearerAuth(token: string) {
  const expected = `Bearer ${token}`;
  return createMiddleware(async function requireBrokerToken(c, next) {
    const given = c.req.header("authorization") ?? "";
    if (!timingSafeEqual(given, expected)) {
      return c.json(errorBody(ErrorCode.Unauthorized, "missing or wrong bearer token"), 401);
    }
    await next();
  });
}

/**
 * The broker's HTTP API (CONTRACT.md "Broker HTTP API"). Pure Hono: tests call
 * `app.request()` without a server; http/server.ts serves it on Node.
 */
export function createHttpApp(deps: HttpAppDeps): Hono {
  const app = new Hono();

  app.get("/healthz", (c) => {
    const report = healthReport(deps.health ?? {});
    return c.json(report, report.ok ? 200 : 503);
  });

  app.use("/v1/*", bearerAuth(deps.brokerApiToken));
  app.use("/metrics", bearerAuth(deps.brokerApiToken));
  app.use("/debug/*", bearerAuth(deps.brokerApiToken));
  app.route("/", debugMemoryRoute(deps.counts));

  app.get("/metrics", async (c) => {
    const text = await deps.metrics.registry.metrics();
    return c.text(text, 200, { "content-type": deps.metrics.registry.contentType });
  });

  app.post("/v1/devices/:id/commands", limitBody(deps.maxBodyBytes), async (c) => {
    const deviceId = c.req.param("id");
    if (!isDeviceId(deviceId)) return c.json(errorBody(ErrorCode.InvalidRequest, "not a device id"), 400);
    let raw: unknown;
    try {
      raw = await c.req.json();
    } catch {
      return c.json(errorBody(ErrorCode.InvalidRequest, "body must be JSON"), 400);
    }
    const parsed = commandBody.safeParse(raw);
    if (!parsed.success) {
      const message = parsed.error.issues
        .map((i) => `${i.path.join(".") || "body"}: ${i.message}`)
        .join("; ");
      deps.metrics.commands.inc({ outcome: "invalid" });
      return c.json(errorBody(ErrorCode.InvalidRequest, message), 400);
    }
    const reply = await deps.router.send(deviceId, parsed.data);
    return c.json(reply.body, reply.status);
  });

  // Live revocation (issue 10 §6): takes effect on a connected device within seconds on every node.
  app.post("/v1/devices/:id/revoke", async (c) => {
    const deviceId = c.req.param("id");
    if (!isDeviceId(deviceId)) return c.json(errorBody(ErrorCode.InvalidRequest, "not a device id"), 400);
    await deps.revocations.revoke(deviceId);
    deps.logger.warn({ deviceId }, "device revoked");
    return c.json({ id: deviceId, revoked: true });
  });

  app.delete("/v1/devices/:id/revoke", async (c) => {
    const deviceId = c.req.param("id");
    if (!isDeviceId(deviceId)) return c.json(errorBody(ErrorCode.InvalidRequest, "not a device id"), 400);
    if (!(await deps.revocations.unrevoke(deviceId))) {
      const message = "the device is listed in REVOKED_DEVICES on this broker; remove it there";
      return c.json(errorBody(ErrorCode.Revoked, message), 409);
    }
    deps.logger.warn({ deviceId }, "device revocation lifted");
    return c.json({ id: deviceId, revoked: false });
  });

  app.get("/v1/devices/:id", async (c) => {
    const deviceId = c.req.param("id");
    if (!isDeviceId(deviceId)) return c.json(errorBody(ErrorCode.InvalidRequest, "not a device id"), 400);
    const record = await deps.store.get(deviceId);
    const view: DeviceView = {
      id: deviceId,
      online: record?.online ?? false,
      since: record?.since ?? null,
      lastSeen: record?.lastSeen ?? null,
      state: record?.state ?? null,
    };
    return c.json(view);
  });

  app.notFound((c) => c.json(errorBody(ErrorCode.NotFound, "no such route"), 404));
  app.onError((error, c) => {
    deps.logger.error({ err: error, path: clip(c.req.path) }, "http handler failed");
    return c.json(errorBody(ErrorCode.Internal, "internal error"), 500);
  });
  return app;
}
