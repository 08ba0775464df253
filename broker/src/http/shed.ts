import type { IncomingMessage, ServerResponse } from "node:http";
import { ErrorCode, errorBody, RETRY_AFTER_HEADER } from "../../../protocol/src/index.js";
import type { CommandAdmission, ShedReason } from "../limits/command-admission.js";
import type { BrokerMetrics } from "../metrics.js";

/** What a shed command is told: retry after a second, when the burst has likely passed or spread. */
export const SHED_RETRY_AFTER_SECONDS = 1;

/** `POST /v1/devices/{id}/commands`, the route under admission control (a query string allowed). */
const COMMAND_PATH = /^\/v1\/devices\/[^/?]+\/commands(?:\?|$)/;

const MESSAGES: Record<ShedReason, string> = {
  in_flight: "too many commands in flight on this broker; retry later",
  event_loop_lag: "the broker is falling behind; retry later",
};

/** The whole 503 answer of each reason, built once: shedding must cost next to nothing. */
const ANSWERS = Object.fromEntries(
  Object.entries(MESSAGES).map(([reason, message]) => [
    reason,
    Buffer.from(JSON.stringify(errorBody(ErrorCode.Overloaded, message))),
  ]),
) as Record<ShedReason, Buffer>;

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
 * Returns true when it answered the request itself.
 */
export function createShedding(admission: CommandAdmission, metrics: BrokerMetrics) {
  return function shedIfOverloaded(request: IncomingMessage, response: ServerResponse): boolean {
    if (request.method !== "POST" || !COMMAND_PATH.test(request.url ?? "")) return false;
    const decision = admission.admit();
    if (decision.admitted) {
      response.once("close", decision.release);
      return false;
    }
    metrics.commandsShed.inc({ reason: decision.reason });
    metrics.commands.inc({ outcome: "overloaded" });
    const body = ANSWERS[decision.reason];
    response.writeHead(503, {
      "content-type": "application/json",
      "content-length": body.length,
      [RETRY_AFTER_HEADER]: String(SHED_RETRY_AFTER_SECONDS),
    });
    response.end(body);
    return true;
  };
}
