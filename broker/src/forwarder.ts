import pino, { type Logger } from "pino";
import type { TetherEvent } from "../../protocol/src/index.js";
import { BoundedQueue } from "./forwarder/bounded-queue.js";
import { type Delivery, type Outcome, postBatch, realTimers, type Timers } from "./forwarder/post-batch.js";
import { ThrottledCounter } from "./forwarder/throttled-counter.js";
import type { BrokerMetrics } from "./metrics.js";

export interface EventForwarderOptions {
  /** EDGE_EVENTS_URL: the edge's `/internal/events`. */
  url: string;
  /** EDGE_EVENTS_SECRET: signs each batch (`Tether-Signature`). */
  secret: string;
  /** Events per request (default 100). */
  batchSize?: number;
  /** How long a partial batch waits for more events (default 25 ms). */
  flushIntervalMs?: number;
  /** Events kept while the edge is slow or down; beyond it the oldest are dropped (default 10,000). */
  maxBuffer?: number;
  /** First retry delay before jitter (default 250 ms); doubles per consecutive failure. */
  baseRetryDelayMs?: number;
  /** Cap of the retry delay (default 30 s). */
  maxRetryDelayMs?: number;
  /** A request slower than this is aborted and retried (default 10 s). */
  requestTimeoutMs?: number;
  fetch?: typeof fetch;
  /** Epoch ms; signs batches and paces logs. */
  now?: () => number;
  /** In [0, 1); jitters retry delays. */
  random?: () => number;
  logger?: Logger;
  metrics?: BrokerMetrics;
  /** Injected so tests can see that no timer outlives close(). */
  timers?: Timers;
}

/** Summaries of drops and failures are logged at most this often. */
const LOG_INTERVAL_MS = 10_000;

export type { Timers } from "./forwarder/post-batch.js";

/**
 * Delivers broker events to the edge: batched, signed, one request in flight,
 * retried with capped exponential backoff and full jitter (so a fleet of
 * brokers does not retry in lockstep), through a bounded buffer that drops the
 * oldest events when the edge stays down (issue 2, capability 5).
 *
 * @example
 *   const forwarder = new EventForwarder({ url: config.edgeEventsUrl, secret: config.edgeEventsSecret });
 *   forwarder.push({ type: "presence", deviceId: "router-1", ts: Date.now(), online: true, reason: "connect" });
 *   await forwarder.close(5_000);
 */
export class EventForwarder {
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly baseRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly delivery: Delivery;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly metrics: BrokerMetrics | undefined;
  private readonly timers: Timers;

  /** Bound: maxBuffer events, including the batch in flight (it leaves only once delivered). */
  private readonly queue: BoundedQueue<TetherEvent>;
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
  private droppedTotal = 0;
  private sentTotal = 0;
  private readonly dropLog: ThrottledCounter;
  private readonly refusedLog: ThrottledCounter;
  private readonly failureLog: ThrottledCounter;

  constructor(options: EventForwarderOptions) {
    this.batchSize = positiveInt("batchSize", options.batchSize ?? 100);
    this.flushIntervalMs = options.flushIntervalMs ?? 25;
    this.baseRetryDelayMs = options.baseRetryDelayMs ?? 250;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.logger = (options.logger ?? pino({ level: "silent" })).child({ component: "forwarder" });
    this.metrics = options.metrics;
    this.timers = options.timers ?? realTimers;
    this.delivery = {
      url: options.url,
      secret: options.secret,
      timeoutMs: options.requestTimeoutMs ?? 10_000,
      fetch: options.fetch ?? fetch,
      now: this.now,
      timers: this.timers,
    };
    this.queue = new BoundedQueue(positiveInt("maxBuffer", options.maxBuffer ?? 10_000));
    this.dropLog = new ThrottledCounter(LOG_INTERVAL_MS, this.now);
    this.refusedLog = new ThrottledCounter(LOG_INTERVAL_MS, this.now);
    this.failureLog = new ThrottledCounter(LOG_INTERVAL_MS, this.now);
  }

  /** Events buffered, including those in flight. Never more than maxBuffer. */
  get depth(): number {
    return this.queue.length;
  }

  /** Events dropped so far: evicted when the buffer was full, refused by the edge, or left at close. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Events the edge has accepted. */
  get sent(): number {
    return this.sentTotal;
  }

  /** Queues an event; never blocks and never throws. */
  push(event: TetherEvent): void {
    if (this.closing) {
      this.drop(1, "forwarder closed");
      return;
    }
    // An evicted event may belong to the batch in flight: it is counted as dropped
    // even if that request then succeeds, so `dropped` never under-reports.
    if (this.queue.push(event).evicted) this.drop(1, "buffer full, dropped the oldest");
    this.metrics?.forwarderQueueDepth.set(this.queue.length);
    this.schedule();
  }

  /** Tries to deliver everything buffered now (SIGTERM); resolves when empty or after `timeoutMs`. */
  async flush(timeoutMs = 5_000): Promise<void> {
    if (this.queue.length === 0) return;
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
    if (this.queue.length > 0) {
      this.logger.warn({ undelivered: this.queue.length, timeoutMs }, "forwarder flush timed out");
    }
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
    const lost = this.queue.clear();
    this.metrics?.forwarderQueueDepth.set(0);
    if (lost > 0) this.drop(lost, "forwarder closed");
    const unreported = this.dropLog.take();
    if (unreported > 0)
      this.logger.warn({ dropped: unreported, total: this.droppedTotal }, "forwarder dropped events");
  }

  private schedule(): void {
    if (!this.mayStart()) return;
    const urgent = this.queue.length >= this.batchSize || this.flushing > 0;
    if (this.timer) {
      if (this.timerIsBackoff || !urgent) return;
      this.clearTimer();
    }
    if (urgent) this.send();
    else this.setTimer(this.flushIntervalMs, false);
  }

  private mayStart(): boolean {
    if (this.inFlight || this.queue.length === 0) return false;
    return !this.closing || this.flushing > 0;
  }

  private send(): void {
    const { items, endSeq } = this.queue.peek(this.batchSize);
    const controller = new AbortController();
    this.abortInFlight = controller;
    this.inFlight = postBatch(this.delivery, items, controller).then((outcome) => {
      this.inFlight = undefined;
      this.abortInFlight = undefined;
      this.settle(outcome, endSeq);
    });
  }

  private settle(outcome: Outcome, endSeq: number): void {
    if (outcome.kind === "retry") {
      this.consecutiveFailures++;
      this.metrics?.forwarderFailures.inc();
      const failures = this.failureLog.add(1);
      if (failures > 0) {
        this.logger.warn(
          { reason: outcome.reason, failures, consecutive: this.consecutiveFailures, depth: this.depth },
          "forwarder could not reach the edge; retrying",
        );
      }
      if (this.closing && this.flushing === 0) return;
      this.setTimer(this.retryDelay(outcome.retryAfterMs), true);
      return;
    }
    this.consecutiveFailures = 0;
    const removed = this.queue.removeBefore(endSeq);
    this.metrics?.forwarderQueueDepth.set(this.queue.length);
    if (outcome.kind === "sent") {
      this.sentTotal += removed;
      this.metrics?.forwarderSent.inc(removed);
    } else {
      this.drop(removed, outcome.reason, this.refusedLog);
    }
    if (this.queue.length === 0) for (const resolve of this.idleWaiters) resolve();
    this.schedule();
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

  private drop(count: number, reason: string, log = this.dropLog): void {
    if (count <= 0) return;
    this.droppedTotal += count;
    this.metrics?.forwarderDropped.inc(count);
    const report = log.add(count);
    if (report > 0) {
      this.logger.warn({ dropped: report, reason, total: this.droppedTotal }, "forwarder dropped events");
    }
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
