import { randomUUID } from "node:crypto";
import { SIGNATURE_HEADER, signBody } from "../../../protocol/src/index.js";

export interface Timers {
  setTimeout(callback: () => void, delayMs: number): NodeJS.Timeout;
  clearTimeout(timer: NodeJS.Timeout | undefined): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
  clearTimeout: (timer) => clearTimeout(timer),
};

/** Where and how a batch is POSTed. */
export interface Delivery {
  url: string;
  secret: string;
  timeoutMs: number;
  fetch: typeof fetch;
  /** Epoch ms; the signature's `t`. */
  now: () => number;
  timers: Timers;
}

export type Outcome =
  /** 2xx; or 409 `replayed`: the edge already holds this batch, so it must never be sent again. */
  | { kind: "sent"; replayed: boolean }
  /** 400 or 413: the edge refuses this batch as a whole; split it so one bad event costs only itself. */
  | { kind: "split"; reason: string }
  /** No answer, 5xx, 408, 429, or a 4xx that says the edge refuses us (401, 403, 404…): try again later. */
  | { kind: "retry"; reason: string; retryAfterMs: number };

/**
 * What an answer means for the batch. 401/403/404 are not the batch's fault (a wrong
 * secret, a clock off by more than 300 s, a wrong URL): dropping would lose everything
 * until an operator fixes it, so they are retried, and /healthz turns `degraded`.
 */
function outcomeOf(status: number, retryAfter: string | null): Outcome {
  if (status >= 200 && status < 300) return { kind: "sent", replayed: false };
  if (status === 409) return { kind: "sent", replayed: true };
  if (status === 400 || status === 413) return { kind: "split", reason: `HTTP ${status}` };
  return { kind: "retry", reason: `HTTP ${status}`, retryAfterMs: parseRetryAfterMs(retryAfter) };
}

function parseRetryAfterMs(header: string | null): number {
  const seconds = header === null ? Number.NaN : Number(header);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${error.message}${cause}`;
}

/**
 * The body of one batch from events already serialized at ingest: no stringify here,
 * so nothing in a batch can fail to serialize. A fresh `batchId` per request, inside
 * the signed body: the edge answers 409 to one it has seen. A batch re-sent after a
 * timeout gets a new id, so delivery is at least once.
 */
export function batchBody(eventJsons: readonly string[]): string {
  return `{"batchId":"${randomUUID()}","events":[${eventJsons.join(",")}]}`;
}

/**
 * POSTs one signed `{"batchId", "events": [...]}` body (CONTRACT.md, "Broker → edge events").
 * Never rejects: every failure becomes an Outcome. `controller` aborts it on close.
 */
export async function postBatch(
  delivery: Delivery,
  body: string,
  controller: AbortController,
): Promise<Outcome> {
  const timeout = delivery.timers.setTimeout(
    () => controller.abort(new Error(`request timed out after ${delivery.timeoutMs} ms`)),
    delivery.timeoutMs,
  );
  try {
    const signature = await signBody(delivery.secret, body, delivery.now() / 1000);
    const response = await delivery.fetch(delivery.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", [SIGNATURE_HEADER]: signature },
      body,
      signal: controller.signal,
    });
    // The answer's body is not needed; cancelling it frees the connection.
    await response.body?.cancel().catch(() => undefined);
    return outcomeOf(response.status, response.headers.get("retry-after"));
  } catch (error) {
    const reason = controller.signal.aborted ? describe(controller.signal.reason) : describe(error);
    return { kind: "retry", reason, retryAfterMs: 0 };
  } finally {
    delivery.timers.clearTimeout(timeout);
  }
}
