import type { RawHttpPool } from "./raw-http.js";

/** One request of an open-loop run: when it was due, how long until its answer, and what it was. */
export interface Sample {
  /** ms after the run's start at which the request was scheduled. */
  dueMs: number;
  /** ms from the scheduled send to the full answer (client-side queueing included). */
  latencyMs: number;
  /** How late the generator sent it (ms after its due time): its own backlog, not the server's. */
  lateMs: number;
  /** ms it waited in the generator for a free connection (part of latencyMs). */
  waitedMs: number;
  /** HTTP status; 0 = no answer (connection error or the client gave up). */
  status: number;
  /** `Retry-After` of a 429/503, else null. */
  retryAfter: string | null;
}

export interface OpenLoopTarget {
  /** Keep-alive connections shared by every run against this target, as a Rails fleet holds them. */
  pool: RawHttpPool;
  /** Prebuilt requests, used in turn (one per router). */
  requests: Buffer[];
  /** The client gives up on a request after this long (counted as status 0). */
  giveUpMs: number;
}

/**
 * Open loop: request n is due at start + n/rate and leaves then, whatever the
 * earlier ones are doing, so a slow server cannot slow the offered load down (as a
 * retry storm would not). Latency is measured from the due time, so a generator or
 * server that falls behind shows in it. `sent` settles when the last request has
 * left, `answered` when every one is answered.
 */
export function openLoop(
  target: OpenLoopTarget,
  rate: number,
  seconds: number,
): { sent: Promise<void>; answered: Promise<Sample[]> } {
  const total = Math.round(rate * seconds);
  // Bound: `total` samples, preallocated; the run awaits every request.
  const samples: Sample[] = new Array(total);
  const inFlight: Promise<void>[] = new Array(total);
  const started = performance.now();
  const fire = async (n: number) => {
    const dueMs = (n * 1000) / rate;
    const lateMs = performance.now() - started - dueMs;
    const request = target.requests[n % target.requests.length] as Buffer;
    const answer = await target.pool.send(request, target.giveUpMs);
    samples[n] = {
      dueMs,
      latencyMs: performance.now() - started - dueMs,
      lateMs,
      waitedMs: answer.waitedMs,
      status: answer.status,
      retryAfter: answer.retryAfter,
    };
  };
  const sending = (async () => {
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      while (sent < due) {
        inFlight[sent] = fire(sent);
        sent++;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  })();
  const answered = sending.then(async () => {
    await Promise.all(inFlight);
    return samples;
  });
  return { sent: sending, answered };
}
