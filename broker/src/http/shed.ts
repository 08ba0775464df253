import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, errorBody, RETRY_AFTER_HEADER, timingSafeEqual } from "../../../protocol/src/index.js";
import { PENDING_REFUSALS, type PendingRefusal } from "../commands/pending.js";
import type { CommandAdmission, ShedReason } from "../limits/command-admission.js";
import type { BrokerMetrics } from "../metrics.js";

/** What a shed command is told: retry after a second, when the burst has likely passed or spread. */
export const SHED_RETRY_AFTER_SECONDS = 1;

/** `POST /v1/devices/{id}/commands`, the route under admission control (a query string allowed). */
const COMMAND_PATH = /^\/v1\/devices\/([^/?]+)\/commands(?:\?|$)/;
/** A device id as it can appear in a path unencoded (CONTRACT.md); anything else goes to the router. */
const PLAIN_DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** `Retry-After` of the per-device 429 (as the router's: a pending slot frees within a command's timeout). */
const PENDING_RETRY_AFTER_SECONDS = 1;

/** The per-device bounds, checked in front of Hono (see createShedding). */
export interface DeviceBound {
  /** BROKER_API_TOKEN: the 429 tells about one device, so only a caller with the token hears it. */
  brokerApiToken: string;
  /** Why the device takes no command now, or null (PendingCommands.refusal). */
  refusal: (deviceId: string) => PendingRefusal | null;
}

/** The whole 429 answer of each per-device refusal, built once. */
const DEVICE_ANSWERS = Object.fromEntries(
  Object.entries(PENDING_REFUSALS).map(([refusal, message]) => [
    refusal,
    Buffer.from(JSON.stringify(errorBody(ErrorCode.RateLimited, message))),
  ]),
) as Record<PendingRefusal, Buffer>;

const MESSAGES: Record<ShedReason, string> = {
  in_flight: "too many commands in flight on this broker; retry later",
  latency: "the broker's commands are slowing down; retry later",
  event_loop_lag: "the broker is falling behind; retry later",
};

/** The whole 503 answer of each reason, built once: shedding must cost next to nothing. */
const ANSWERS = Object.fromEntries(
  Object.entries(MESSAGES).map(([reason, message]) => [
    reason,
    Buffer.from(JSON.stringify(errorBody(ErrorCode.Overloaded, message))),
  ]),
) as Record<ShedReason, Buffer>;

/** A prebuilt refusal with `Retry-After`, written at once (the request's body is left unread). */
function refuse(response: ServerResponse, status: 429 | 503, body: Buffer, retryAfterSeconds: number): void {
  response.writeHead(status, {
    "content-type": "application/json",
    "content-length": body.length,
    [RETRY_AFTER_HEADER]: String(retryAfterSeconds),
  });
  response.end(body);
}

/**
 * Admission control in front of the HTTP API (issue 17). It runs in Node's request
 * listener, before @hono/node-server builds a request and before Hono routes it:
 * measured on the bench, a 503 through Hono cost ~60 % of a whole served command
 * (~300 µs of CPU), so a broker past its knee spent what it had left on saying no.
 * A command the broker cannot serve now is answered `503 overloaded` with
 * `Retry-After` at once, its body unread (Node discards it and keeps the connection).
 * An admitted command holds its in-flight slot until its response is finished or
 * its connection closes. Before the bearer token: a stranger learns only that the
 * broker is busy.
 *
 * The per-device bounds (MAX_PENDING_PER_DEVICE, and COMMAND_QUEUE_TARGET_MS's standing
 * queue) are checked here too, for a caller with the right token: past the knee most
 * refusals are these 429s, and
 * answered by the router each cost a whole trip through Hono, the body's parse and
 * the device store (the bench: 2× the knee, 44 % of requests). The router checks the
 * bound again, so this check only answers earlier what the router would answer.
 *
 * Returns true when it answered the request itself.
 */
export function createShedding(admission: CommandAdmission, metrics: BrokerMetrics, device?: DeviceBound) {
  const expected = device ? `Bearer ${device.brokerApiToken}` : "";
  return function shedIfOverloaded(request: IncomingMessage, response: ServerResponse): boolean {
    if (request.method !== "POST") return false;
    const path = COMMAND_PATH.exec(request.url ?? "");
    if (!path) return false;
    const arrived = performance.now();
    response.once("close", () => {
      const status = response.statusCode;
      const answer = status < 300 ? "ok" : status === 429 || status === 503 ? "refused" : "failed";
      metrics.commandSeconds.observe({ answer }, (performance.now() - arrived) / 1000);
    });
    const deviceId = path[1] ?? "";
    const refusal = device && PLAIN_DEVICE_ID.test(deviceId) ? device.refusal(deviceId) : null;
    if (refusal && timingSafeEqual(request.headers.authorization ?? "", expected)) {
      metrics.commands.inc({ outcome: "rate_limited" });
      if (refusal === "standing_queue") metrics.commandsQueueRefused.inc();
      refuse(response, 429, DEVICE_ANSWERS[refusal], PENDING_RETRY_AFTER_SECONDS);
      return true;
    }
    const decision = admission.admit();
    if (decision.admitted) {
      response.once("close", () => decision.release(response.statusCode < 300));
      return false;
    }
    metrics.commandsShed.inc({ reason: decision.reason });
    metrics.commands.inc({ outcome: "overloaded" });
    refuse(response, 503, ANSWERS[decision.reason], SHED_RETRY_AFTER_SECONDS);
    return true;
  };
}
