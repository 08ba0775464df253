import pino from "pino";
import { EVENT_BATCH_LIMITS, type TetherEvent } from "../../protocol/src/index.js";
import type { EventSink } from "./context.js";
import { ForwarderAccounting } from "./forwarder/accounting.js";
import { EdgeHealth, type EdgeProblem } from "./forwarder/edge-health.js";
import { type EncodedEvent, encodeEvent } from "./forwarder/encoded-event.js";
import { type BufferedEvent, EventBuffer } from "./forwarder/event-buffer.js";
import { DEFAULT_FORWARDER_MAX_BYTES, type EventForwarderOptions } from "./forwarder/options.js";
import {
  batchBody,
  type Delivery,
  type Outcome,
  postBatch,
  realTimers,
  type Timers,
} from "./forwarder/post-batch.js";

export type { EdgeProblem } from "./forwarder/edge-health.js";
export { DEFAULT_FORWARDER_MAX_BYTES, type EventForwarderOptions } from "./forwarder/options.js";
export type { Timers } from "./forwarder/post-batch.js";

/**
 * Delivers broker events to the edge (issue 12: nothing lost). Events arrive serialized
 * with their size; they wait in an EventBuffer where each device's latest presence and
 * state are coalesced and never dropped, command results are never dropped, and device
 * events share a byte budget fairly. Batches are built by bytes under the edge's body
 * limit, signed, sent one at a time, and retried with capped exponential backoff and
 * full jitter (so a fleet of brokers does not retry in lockstep). A batch the edge
 * refuses as a whole (400/413) is split in halves until the one bad event is alone.
 *
 * @example
 *   const forwarder = new EventForwarder({ url: config.edgeEventsUrl, secret: config.edgeEventsSecret });
 *   forwarder.push({ type: "presence", deviceId: "router-1", ts: Date.now(), online: true, reason: "connect" });
 *   await forwarder.close(5_000);
 */
export class EventForwarder implements EventSink {
  private readonly maxBatchBytes: number;
  private readonly maxBatchEvents: number;
  private readonly flushIntervalMs: number;
  private readonly baseRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly delivery: Delivery;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly timers: Timers;
  private readonly health: EdgeHealth;

  /** Bound: `maxBytes` for device events; latest values and results per EventBuffer's comments. */
  private readonly buffer: EventBuffer;
  /** Halves of refused batches, sent before anything new. Bound: their events are in `buffer`. */
  private readonly splitParts: BufferedEvent[][] = [];
  /** At most one timer: waiting for a fuller batch, or backing off before a retry. */
  private timer: NodeJS.Timeout | undefined;
  private timerIsBackoff = false;
  private inFlight: Promise<void> | undefined;
  private abortInFlight: AbortController | undefined;
  private consecutiveFailures = 0;
  /** Number of flush() calls waiting; while > 0 partial batches go out at once. */
  private flushing = 0;
  /** Bound: one resolver per concurrent flush() call, removed when it returns. */
  private readonly idleWaiters = new Set<() => void>();
  private closing: Promise<void> | undefined;
  private readonly accounting: ForwarderAccounting;

  constructor(options: EventForwarderOptions) {
    this.maxBatchBytes = positiveInt(
      "maxBatchBytes",
      options.maxBatchBytes ?? EVENT_BATCH_LIMITS.maxBodyBytes,
    );
    this.maxBatchEvents = positiveInt(
      "maxBatchEvents",
      options.maxBatchEvents ?? EVENT_BATCH_LIMITS.maxEvents,
    );
    this.flushIntervalMs = options.flushIntervalMs ?? 25;
    this.baseRetryDelayMs = options.baseRetryDelayMs ?? 250;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 10_000;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.timers = options.timers ?? realTimers;
    this.delivery = {
      url: options.url,
      secret: options.secret,
      timeoutMs: options.requestTimeoutMs ?? 10_000,
      fetch: options.fetch ?? fetch,
      now: this.now,
      timers: this.timers,
    };
    this.buffer = new EventBuffer(positiveInt("maxBytes", options.maxBytes ?? DEFAULT_FORWARDER_MAX_BYTES));
    this.health = new EdgeHealth(options.degradedAfterMs ?? 15_000, this.now);
    const logger = (options.logger ?? pino({ level: "silent" })).child({ component: "forwarder" });
    this.accounting = new ForwarderAccounting(logger, options.metrics, this.now);
  }

  /** Events buffered (every lane), including those in flight. */
  get depth(): number {
    return this.buffer.length;
  }

  /** Bytes buffered, by lane. */
  get bytes(): EventBuffer["bytes"] {
    return this.buffer.bytes;
  }

  /** Events dropped so far: device events evicted under pressure, events refused alone by the edge, or left at close. */
  get dropped(): number {
    return this.accounting.dropped;
  }

  /** Events the edge has accepted. */
  get sent(): number {
    return this.accounting.sent;
  }

  /** The edge's failure once it has lasted `degradedAfterMs`, else null (for /healthz). */
  edgeProblem(): EdgeProblem | null {
    return this.health.problem();
  }

  /** Serializes and queues an event the broker produced; never blocks and never throws. */
  push(event: TetherEvent): void {
    const encoded = encodeEvent(event);
    if (!encoded.ok) {
      this.accounting.drop(1, encoded.reason, { deviceId: event.deviceId, message: encoded.message });
      return;
    }
    this.pushEncoded(encoded.event);
  }

  /** Queues an event serialized at ingest; never blocks and never throws. */
  pushEncoded(event: EncodedEvent): void {
    if (this.closing) {
      this.accounting.drop(1, "closed");
      return;
    }
    // A dropped event may belong to the batch in flight: it is counted as dropped
    // even if that request then succeeds, so `dropped` never under-reports.
    const effect = this.buffer.push(event);
    this.accounting.superseded(effect.coalesced);
    this.accounting.drop(effect.dropped, "buffer_full");
    this.accounting.gauges(this.buffer);
    this.schedule();
  }

  /** Tries to deliver everything buffered now (SIGTERM); resolves when empty or after `timeoutMs`. */
  async flush(timeoutMs = 5_000): Promise<void> {
    if (this.buffer.length === 0) return;
    this.flushing++;
    let resolveIdle = () => {};
    const idle = new Promise<void>((resolve) => {
      resolveIdle = resolve;
    });
    this.idleWaiters.add(resolveIdle);
    let deadline: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      deadline = this.timers.setTimeout(resolve, timeoutMs);
    });
    try {
      // Try now, even when a batch wait or a retry backoff is pending.
      if (!this.inFlight) this.clearTimer();
      this.schedule();
      await Promise.race([idle, expired]);
    } finally {
      this.timers.clearTimeout(deadline);
      this.idleWaiters.delete(resolveIdle);
      this.flushing--;
    }
    if (this.buffer.length > 0) this.accounting.flushTimedOut(this.buffer.length, timeoutMs);
  }

  /** Flushes for at most `timeoutMs`, then stops: no timer or request is left behind. */
  close(timeoutMs = 5_000): Promise<void> {
    this.closing ??= this.shutDown(timeoutMs);
    return this.closing;
  }

  private async shutDown(timeoutMs: number): Promise<void> {
    await this.flush(timeoutMs);
    this.clearTimer();
    this.abortInFlight?.abort(new Error("forwarder closed"));
    await this.inFlight;
    this.clearTimer();
    this.splitParts.length = 0;
    const lost = this.buffer.clear();
    this.accounting.gauges(this.buffer);
    this.accounting.drop(lost, "closed");
    this.accounting.flush();
  }

  private schedule(): void {
    if (!this.mayStart()) return;
    const urgent =
      this.flushing > 0 ||
      this.splitParts.length > 0 ||
      this.buffer.length >= this.maxBatchEvents ||
      this.buffer.bytes.total >= this.maxBatchBytes;
    if (this.timer) {
      if (this.timerIsBackoff || !urgent) return;
      this.clearTimer();
    }
    if (urgent) this.send();
    else this.setTimer(this.flushIntervalMs, false);
  }

  private mayStart(): boolean {
    if (this.inFlight || this.buffer.length === 0) return false;
    return !this.closing || this.flushing > 0;
  }

  /** The next events to send: a pending half of a refused batch first, else a fresh batch. */
  private nextBatch(): { items: BufferedEvent[]; isSplitPart: boolean } {
    for (let part = this.splitParts.shift(); part; part = this.splitParts.shift()) {
      const current = part.filter((item) => this.buffer.holds(item));
      if (current.length > 0) return { items: current, isSplitPart: true };
    }
    return { items: this.buffer.nextBatch(this.maxBatchBytes, this.maxBatchEvents), isSplitPart: false };
  }

  private send(): void {
    const { items, isSplitPart } = this.nextBatch();
    if (items.length === 0) return;
    const controller = new AbortController();
    this.abortInFlight = controller;
    const body = batchBody(items.map((item) => item.event.json));
    this.inFlight = postBatch(this.delivery, body, controller).then((outcome) => {
      this.inFlight = undefined;
      this.abortInFlight = undefined;
      this.settle(outcome, items, isSplitPart);
    });
  }

  private settle(outcome: Outcome, items: BufferedEvent[], isSplitPart: boolean): void {
    if (outcome.kind === "retry") {
      this.retryLater(outcome, items, isSplitPart);
      return;
    }
    this.consecutiveFailures = 0;
    this.health.answered();
    if (outcome.kind === "sent") {
      this.accounting.superseded(this.buffer.remove(items));
      this.accounting.delivered(items.length, outcome.replayed);
    } else if (items.length === 1) {
      this.buffer.remove(items);
      this.accounting.drop(1, "refused", { reason: outcome.reason, deviceId: items[0]?.event.deviceId });
    } else {
      const half = Math.ceil(items.length / 2);
      this.splitParts.unshift(items.slice(0, half), items.slice(half));
    }
    this.accounting.gauges(this.buffer);
    if (this.buffer.length === 0) for (const resolve of this.idleWaiters) resolve();
    this.schedule();
  }

  private retryLater(
    outcome: Extract<Outcome, { kind: "retry" }>,
    items: BufferedEvent[],
    isSplitPart: boolean,
  ): void {
    this.consecutiveFailures++;
    this.health.failed(outcome.reason);
    this.accounting.failed(outcome.reason, this.consecutiveFailures, this.depth);
    // A half of a refused batch is tried again as it is; a fresh batch is rebuilt, with newer values.
    if (isSplitPart) this.splitParts.unshift(items);
    if (this.closing && this.flushing === 0) return;
    this.setTimer(this.retryDelay(outcome.retryAfterMs), true);
  }

  /** Capped exponential backoff with full jitter; a Retry-After from the edge is a floor. */
  private retryDelay(retryAfterMs: number): number {
    const ceiling = Math.min(
      this.maxRetryDelayMs,
      this.baseRetryDelayMs * 2 ** (this.consecutiveFailures - 1),
    );
    const jittered = Math.floor(this.random() * ceiling);
    return Math.max(jittered, Math.min(retryAfterMs, this.maxRetryDelayMs));
  }

  private setTimer(delayMs: number, isBackoff: boolean): void {
    this.clearTimer();
    this.timerIsBackoff = isBackoff;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.timerIsBackoff = false;
      // Time is up for a partial batch, or a backoff has passed: send what there is.
      if (this.mayStart()) this.send();
    }, delayMs);
    // The broker's servers keep the process alive; a pending batch must not.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerIsBackoff = false;
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer ≥ 1`);
  return value;
}
