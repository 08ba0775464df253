import type { Logger } from "pino";
import type { BrokerMetrics } from "../metrics.js";
import type { EventBuffer } from "./event-buffer.js";
import { ThrottledCounter } from "./throttled-counter.js";

/** Summaries of drops and failures are logged at most this often. */
const LOG_INTERVAL_MS = 10_000;

export type DropReason = "buffer_full" | "refused" | "closed" | "event_too_large" | "unserializable";

/** Drops that are about one event's content, logged apart from drops under pressure. */
const REFUSALS: ReadonlySet<DropReason> = new Set(["refused", "event_too_large", "unserializable"]);

/**
 * What the forwarder counts and says: events delivered and dropped (by reason),
 * superseded values, failed attempts. Each kind of trouble is logged at most once per
 * 10 s with the count since (a flood of drops costs a few lines), and every figure is
 * mirrored in the broker's metrics.
 */
export class ForwarderAccounting {
  #sent = 0;
  #dropped = 0;
  readonly #dropLog: ThrottledCounter;
  readonly #refusedLog: ThrottledCounter;
  readonly #failureLog: ThrottledCounter;
  readonly #replayLog: ThrottledCounter;

  constructor(
    private readonly logger: Logger,
    private readonly metrics: BrokerMetrics | undefined,
    now: () => number,
  ) {
    this.#dropLog = new ThrottledCounter(LOG_INTERVAL_MS, now);
    this.#refusedLog = new ThrottledCounter(LOG_INTERVAL_MS, now);
    this.#failureLog = new ThrottledCounter(LOG_INTERVAL_MS, now);
    this.#replayLog = new ThrottledCounter(LOG_INTERVAL_MS, now);
  }

  get sent(): number {
    return this.#sent;
  }

  get dropped(): number {
    return this.#dropped;
  }

  drop(count: number, reason: DropReason, details: object = {}): void {
    if (count <= 0) return;
    this.#dropped += count;
    this.metrics?.forwarderDropped.inc({ reason }, count);
    const report = (REFUSALS.has(reason) ? this.#refusedLog : this.#dropLog).add(count);
    if (report > 0) {
      this.logger.warn(
        { ...details, dropped: report, reason, total: this.#dropped },
        "forwarder dropped events",
      );
    }
  }

  /** Superseded presence/state values that will never be sent. */
  superseded(count: number): void {
    if (count > 0) this.metrics?.forwarderCoalesced.inc(count);
  }

  delivered(count: number, replayed: boolean): void {
    this.#sent += count;
    this.metrics?.forwarderSent.inc(count);
    // Cannot happen with a fresh batchId per request, unless something replays our traffic.
    if (replayed && this.#replayLog.add(1) > 0)
      this.logger.warn({ events: count }, "the edge already had this batch (409 replayed)");
  }

  failed(reason: string, consecutive: number, depth: number): void {
    this.metrics?.forwarderFailures.inc();
    const failures = this.#failureLog.add(1);
    if (failures > 0) {
      this.logger.warn(
        { reason, failures, consecutive, depth },
        "forwarder could not reach the edge; retrying",
      );
    }
  }

  /** The queue depth and bytes by lane, as gauges. */
  gauges(buffer: EventBuffer): void {
    if (!this.metrics) return;
    const bytes = buffer.bytes;
    this.metrics.forwarderQueueDepth.set(buffer.length);
    this.metrics.forwarderBytes.set({ lane: "latest" }, bytes.latest);
    this.metrics.forwarderBytes.set({ lane: "results" }, bytes.results);
    this.metrics.forwarderBytes.set({ lane: "events" }, bytes.events);
  }

  flushTimedOut(undelivered: number, timeoutMs: number): void {
    this.logger.warn({ undelivered, timeoutMs }, "forwarder flush timed out");
  }

  /** Logs the drops not reported yet (close). */
  flush(): void {
    const unreported = this.#dropLog.take() + this.#refusedLog.take();
    if (unreported > 0)
      this.logger.warn({ dropped: unreported, total: this.#dropped }, "forwarder dropped events");
  }
}
