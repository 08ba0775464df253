import { topics } from "../../protocol/src/index.js";
import { BoundedQueue } from "./bounded-queue.js";
import type { Connection } from "./connection.js";
import type { StateReporter } from "./state-reporter.js";

interface QueuedEvent {
  topic: string;
  payload: string;
  qos: 0 | 1;
}

interface QueuedResult {
  id: string;
  payload: string;
}

export interface OutboxStats {
  queuedEvents: number;
  queuedResults: number;
  droppedEvents: number;
  droppedResults: number;
  inFlight: number;
  eventsPublished: number;
  resultsPublished: number;
  statePublishes: number;
}

export interface OutboxOptions {
  deviceId: string;
  maxQueuedEvents: number;
  maxQueuedResults: number;
  maxInFlight: number;
  state: StateReporter;
  onError(error: Error): void;
}

/**
 * Everything the device publishes goes through here. It publishes only while a
 * connection is attached, at most `maxInFlight` at once (which also bounds mqtt.js's
 * outgoing store), in the order results → state → events. A publish that fails with
 * its connection goes back to the front of its queue and is retried on the next one.
 */
export class Outbox {
  // Bound: maxQueuedResults, drop oldest (a dropped result is re-answered from the
  // result cache if the broker redelivers the command).
  readonly #results: BoundedQueue<QueuedResult>;
  // Bound: maxQueuedEvents, drop oldest, counted.
  readonly #events: BoundedQueue<QueuedEvent>;
  #connection: Connection | null = null;
  #inFlight = 0;
  #eventsPublished = 0;
  #resultsPublished = 0;
  #lostQoS0 = 0;

  constructor(private readonly options: OutboxOptions) {
    this.#results = new BoundedQueue(options.maxQueuedResults);
    this.#events = new BoundedQueue(options.maxQueuedEvents);
  }

  stats(): OutboxStats {
    return {
      queuedEvents: this.#events.size,
      queuedResults: this.#results.size,
      droppedEvents: this.#events.dropped + this.#lostQoS0,
      droppedResults: this.#results.dropped,
      inFlight: this.#inFlight,
      eventsPublished: this.#eventsPublished,
      resultsPublished: this.#resultsPublished,
      statePublishes: this.options.state.publishes,
    };
  }

  attach(connection: Connection): void {
    this.#connection = connection;
    this.pump();
  }

  detach(): void {
    this.#connection = null;
  }

  addResult(id: string, payload: string): void {
    this.#results.push({ id, payload });
    this.pump();
  }

  addEvent(topic: string, payload: string, qos: 0 | 1): void {
    this.#events.push({ topic, payload, qos });
    this.pump();
  }

  clear(): void {
    this.#results.clear();
    this.#events.clear();
    this.#connection = null;
  }

  /** Sends what the window allows. Called on every enqueue, attach and settle. */
  pump(): void {
    const connection = this.#connection;
    while (
      connection?.connected &&
      this.#connection === connection &&
      this.#inFlight < this.options.maxInFlight
    ) {
      if (!this.#sendNext(connection)) return;
    }
  }

  #sendNext(connection: Connection): boolean {
    const result = this.#results.shift();
    if (result) {
      this.#track(connection.publish(topics.results(this.options.deviceId), result.payload, 1), (ok) => {
        if (ok) this.#resultsPublished++;
        else this.#results.unshift(result);
      });
      return true;
    }
    const state = this.options.state.take();
    if (state) {
      const publish = connection.publish(topics.state(this.options.deviceId), state.payload, 1, true);
      this.#track(publish, (ok) => this.options.state.settle(state.version, ok));
      return true;
    }
    const event = this.#events.shift();
    if (event) {
      this.#track(connection.publish(event.topic, event.payload, event.qos), (ok) => {
        if (ok) this.#eventsPublished++;
        else if (event.qos === 1) this.#events.unshift(event);
        else this.#lostQoS0++; // at most once: not retried
      });
      return true;
    }
    return false;
  }

  #track(publish: Promise<void>, settle: (ok: boolean) => void): void {
    this.#inFlight++;
    publish.then(
      () => {
        this.#inFlight--;
        settle(true);
        this.pump();
      },
      (error: Error) => {
        this.#inFlight--;
        settle(false);
        if (this.#connection?.connected) {
          // Failed on a live connection (not a disconnect): say so, and do not retry in a tight loop.
          this.options.onError(error);
        }
      },
    );
  }
}
