import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  ErrorCode,
  parseEventBatch,
  parseJson,
  RETRY_AFTER_HEADER,
  SIGNATURE_HEADER,
  TetherError,
  type TetherEvent,
  verifyBodySignature,
} from "../../../protocol/src/index.js";
import { bodySize } from "../body-size.js";
import type { EdgeEnv } from "../env.js";
import { errorResponse, requireSecret } from "../http-errors.js";
import { ledgerFor } from "../ledger/batch-ledger.js";
import { MAX_EVENTS_BODY_BYTES } from "../limits.js";
import { document, errorAnswer, json, retryAnswer } from "../openapi.js";

/**
 * `POST /internal/events`: the broker's signed event batches, one DeviceChannel call
 * per device. A batchId seen in the last 600 s is refused 409 `replayed` before
 * anything is delivered; a batch whose delivery fails is forgotten again, so the
 * broker may resend it.
 */
export const eventsRoute = new OpenAPIHono<{ Bindings: EdgeEnv }>();

document(
  eventsRoute,
  createRoute({
    method: "post",
    path: "/events",
    summary: "Signed event batches from the broker (not for Rails)",
    description: `\`${SIGNATURE_HEADER}: t=<unix s>,v1=<hex HMAC-SHA256(EDGE_EVENTS_SECRET, "<t>.<raw body>")>\`; body \`{"batchId", "events": [Event, …]}\` (docs/PROTOCOL.md), at most 1,000 events and 1 MiB.`,
    request: {
      headers: z.object({ [SIGNATURE_HEADER.toLowerCase()]: z.string() }),
      body: {
        required: true,
        content: {
          "application/json": {
            schema: z.object({ batchId: z.string(), events: z.array(z.record(z.string(), z.unknown())) }),
          },
        },
      },
    },
    responses: {
      200: json(
        z.object({ ok: z.literal(true), events: z.number().int(), devices: z.number().int() }),
        "Delivered",
      ),
      400: errorAnswer("Not a valid batch (`invalid_request`)"),
      401: errorAnswer("Bad signature or a `t` more than 300 s away (`unauthorized`)"),
      409: errorAnswer("This batchId was accepted in the last 600 s (`replayed`)"),
      413: errorAnswer("Body above 1 MiB (`payload_too_large`)"),
      500: errorAnswer("Delivery to a device failed; the batchId is released, so it may be resent"),
      503: retryAnswer("The replay ledger is full (`overloaded`, Retry-After: 1)"),
    },
  }),
);

eventsRoute.post("/events", bodySize(MAX_EVENTS_BODY_BYTES), async (c) => {
  const secret = requireSecret(c.env, "EDGE_EVENTS_SECRET");
  // The signature covers the raw bytes, so the body is read as text before parsing.
  const raw = await c.req.text();
  const check = await verifyBodySignature(secret, c.req.header(SIGNATURE_HEADER), raw, Date.now() / 1000);
  if (!check.ok) {
    throw new TetherError(ErrorCode.Unauthorized, `bad ${SIGNATURE_HEADER} (${check.reason})`, {
      status: 401,
    });
  }
  const json = parseJson(raw);
  const batch = json.ok ? parseEventBatch(json.value) : json;
  if (!batch.ok) throw new TetherError(ErrorCode.InvalidRequest, batch.message, { status: 400 });

  const { batchId, events } = batch.value;
  const ledger = ledgerFor(c.env, batchId);
  const claim = await ledger.claim(batchId);
  if (claim === "replayed") {
    throw new TetherError(ErrorCode.Replayed, `batch ${batchId} was already accepted`, { status: 409 });
  }
  if (claim === "full") {
    console.error("edge: batch ledger full, refusing a batch", { batchId });
    const refusal = errorResponse(503, ErrorCode.Overloaded, "too many batches in the replay window; retry");
    refusal.headers.set(RETRY_AFTER_HEADER, "1");
    return refusal;
  }
  const byDevice = groupByDevice(events);
  const outcomes = await Promise.allSettled(
    [...byDevice].map(([deviceId, deviceEvents]) =>
      c.env.DEVICE_CHANNEL.getByName(deviceId).deliver(deviceId, deviceEvents),
    ),
  );
  const failed = outcomes.filter((outcome) => outcome.status === "rejected");
  if (failed.length > 0) {
    await ledger.release(batchId);
    const reasons = failed.map((outcome) => String(outcome.reason));
    console.error("edge: event delivery failed", { devices: byDevice.size, reasons });
    throw new TetherError(
      ErrorCode.Internal,
      `delivery failed for ${failed.length} of ${byDevice.size} devices`,
      { status: 500 },
    );
  }
  return c.json({ ok: true, events: events.length, devices: byDevice.size });
});

/** Groups a batch by device, keeping each device's events in batch order. Bounded by the batch size. */
function groupByDevice(events: TetherEvent[]): Map<string, TetherEvent[]> {
  const groups = new Map<string, TetherEvent[]>();
  for (const event of events) {
    const group = groups.get(event.deviceId);
    if (group) group.push(event);
    else groups.set(event.deviceId, [event]);
  }
  return groups;
}
