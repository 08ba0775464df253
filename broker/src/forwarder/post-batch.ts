import { randomUUID } from "node:crypto";
import { SIGNATURE_HEADER, signBody, type TetherEvent } from "../../../protocol/src/index.js";

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
  | { kind: "sent" }
  | { kind: "retry"; reason: string; retryAfterMs: number }
  | { kind: "refused"; reason: string };

/** 408 and 429 are the only 4xx answers worth repeating; any other 4xx will fail again. */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status < 400 || status >= 500;
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
 * POSTs one signed `{"events": [...]}` batch (CONTRACT.md, "Broker → edge events").
 * Never rejects: every failure becomes an Outcome. `controller` aborts it on close.
 */
export async function postBatch(
  delivery: Delivery,
  events: TetherEvent[],
  controller: AbortController,
): Promise<Outcome> {
  let body: string;
  try {
    // A fresh id per request, inside the signed body: the edge refuses a replayed one (409).
    body = JSON.stringify({ batchId: randomUUID(), events });
  } catch (error) {
    // Retrying cannot help a batch that does not serialize (e.g. a BigInt).
    return { kind: "refused", reason: `unserializable batch: ${describe(error)}` };
  }
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
    if (response.ok) return { kind: "sent" };
    const reason = `HTTP ${response.status}`;
    if (!isRetryableStatus(response.status)) return { kind: "refused", reason };
    return { kind: "retry", reason, retryAfterMs: parseRetryAfterMs(response.headers.get("retry-after")) };
  } catch (error) {
    const reason = controller.signal.aborted ? describe(controller.signal.reason) : describe(error);
    return { kind: "retry", reason, retryAfterMs: 0 };
  } finally {
    delivery.timers.clearTimeout(timeout);
  }
}
