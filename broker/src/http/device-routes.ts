import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { Logger } from "pino";
import { ErrorCode, errorBody, RETRY_AFTER_HEADER } from "../../../protocol/src/index.js";
import type { CommandRouter } from "../commands/router.js";
import type { DesiredDelivery } from "../desired/desired-delivery.js";
import type { DeviceStore } from "../devices/store.js";
import type { BrokerMetrics } from "../metrics.js";
import { desiredRoute } from "./desired-route.js";
import { limitBody } from "./middleware.js";
import {
  BEARER,
  CommandBody,
  CommandResult,
  DeviceIdParams,
  DeviceView,
  declared,
  errorAnswer,
  invalidRequestHook,
  QueuedCommand,
  retryAnswer,
} from "./openapi.js";

/** What the revoke routes call (devices/revocation.ts). */
export interface RevocationControl {
  revoke(deviceId: string): Promise<void>;
  /** False when the device is in REVOKED_DEVICES, which only a configuration change lifts. */
  unrevoke(deviceId: string): Promise<boolean>;
}

export interface DeviceRoutesDeps {
  router: CommandRouter;
  store: DeviceStore;
  revocations: RevocationControl;
  /** Desired state (issue 15): `PUT /{id}/desired`. */
  desired: DesiredDelivery;
  metrics: BrokerMetrics;
  /** Largest accepted request body. */
  maxBodyBytes: number;
  logger: Logger;
}

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

const unauthorized = errorAnswer("Missing or wrong bearer token (`unauthorized`)");
const badId = errorAnswer("Not a device id (`invalid_request`)");

const sendCommand = (middleware: MiddlewareHandler[]) =>
  createRoute({
    middleware,
    method: "post",
    path: "/{id}/commands",
    summary: "Send a command to a device and wait for its result",
    security: BEARER,
    request: {
      params: DeviceIdParams,
      body: { required: true, content: { "application/json": { schema: CommandBody } } },
    },
    responses: {
      200: json(CommandResult, "The device answered in time: its result object as is (`ok` may be false)"),
      202: json(QueuedCommand, "`queue: true` and the device offline or not answering: kept in its session"),
      400: errorAnswer("Bad body, JSON or device id (`invalid_request`)"),
      401: unauthorized,
      403: errorAnswer("The device's credential is revoked (`revoked`)"),
      409: errorAnswer("Device offline and `queue` false, or no persistent session to queue into"),
      413: errorAnswer("Body above MAX_PAYLOAD_BYTES (`payload_too_large`)"),
      415: errorAnswer("Content-Type is not application/json (`invalid_request`)"),
      429: retryAnswer(
        "Too many commands waiting for this device or in the pending table, its commands queueing beyond COMMAND_QUEUE_TARGET_MS, or too many queued for it (`rate_limited`)",
      ),
      503: retryAnswer(
        "Shed by admission control: MAX_COMMANDS_IN_FLIGHT reached or the event loop lags above MAX_EVENT_LOOP_LAG_MS (`overloaded`)",
      ),
      504: errorAnswer("No result within `timeoutMs` (`timeout`, with the command's `id`)"),
    },
  });

const revoke = (method: "post" | "delete") =>
  createRoute({
    method,
    path: "/{id}/revoke",
    summary:
      method === "post"
        ? "Revoke a device: disconnect it on every node, refuse it until lifted"
        : "Lift a device's revocation",
    security: BEARER,
    request: { params: DeviceIdParams },
    responses: {
      200: json(z.object({ id: z.string(), revoked: z.boolean() }), "Done"),
      400: badId,
      401: unauthorized,
      ...(method === "delete"
        ? { 409: errorAnswer("The id is in this node's REVOKED_DEVICES (`revoked`)") }
        : {}),
    },
  });

const viewDevice = createRoute({
  method: "get",
  path: "/{id}",
  summary: "A device's presence and last reported state (cluster-wide in Redis mode)",
  security: BEARER,
  request: { params: DeviceIdParams },
  responses: { 200: json(DeviceView, "The device's view"), 400: badId, 401: unauthorized },
});

/** `/v1/devices/{id}…` of the broker's API; mounted behind the bearer token by app.ts. */
export function deviceRoutes(deps: DeviceRoutesDeps): OpenAPIHono {
  const routes = new OpenAPIHono({ defaultHook: invalidRequestHook() });
  // The command route in its own sub-app, whose hook also counts commands{outcome="invalid"}.
  const commands = new OpenAPIHono({
    defaultHook: invalidRequestHook(() => deps.metrics.commands.inc({ outcome: "invalid" })),
  });
  // Admission control runs before this, in the server's request listener (http/shed.ts).
  commands.openapi(sendCommand([limitBody(deps.maxBodyBytes)]), async (c) => {
    const reply = await deps.router.send(c.req.valid("param").id, c.req.valid("json"));
    if (reply.retryAfterSeconds !== undefined) c.header(RETRY_AFTER_HEADER, String(reply.retryAfterSeconds));
    return declared(c.json(reply.body, reply.status));
  });
  routes.route("/", commands);
  routes.route("/", desiredRoute(deps.desired));

  // Live revocation (issue 10 §6): takes effect on a connected device within seconds on every node.
  routes.openapi(revoke("post"), async (c) => {
    const deviceId = c.req.valid("param").id;
    await deps.revocations.revoke(deviceId);
    deps.logger.warn({ deviceId }, "device revoked");
    return c.json({ id: deviceId, revoked: true }, 200);
  });

  routes.openapi(revoke("delete"), async (c) => {
    const deviceId = c.req.valid("param").id;
    if (!(await deps.revocations.unrevoke(deviceId))) {
      const message = "the device is listed in REVOKED_DEVICES on this broker; remove it there";
      return declared(c.json(errorBody(ErrorCode.Revoked, message), 409));
    }
    deps.logger.warn({ deviceId }, "device revocation lifted");
    return c.json({ id: deviceId, revoked: false }, 200);
  });

  routes.openapi(viewDevice, async (c) => {
    const deviceId = c.req.valid("param").id;
    const record = await deps.store.get(deviceId);
    return c.json(
      {
        id: deviceId,
        online: record?.online ?? false,
        since: record?.since ?? null,
        lastSeen: record?.lastSeen ?? null,
        state: record?.state ?? null,
      },
      200,
    );
  });
  return routes;
}
