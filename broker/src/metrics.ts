import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { v8CodeBytes } from "./diagnostics/counts.js";

/**
 * Prometheus metrics of one broker instance. Each instance has its own
 * Registry (never prom-client's global one) because tests and benches start
 * several brokers in one process.
 */

export type MessageKind = "state" | "event" | "result" | "other";
export type CommandOutcome =
  | "ok"
  | "failed"
  | "timeout"
  | "offline"
  | "queued"
  | "rate_limited"
  | "invalid"
  | "revoked"
  | "overloaded";

export interface BrokerMetrics {
  registry: Registry;
  /** Open MQTT connections (authenticated clients). */
  connections: Gauge;
  /** Persistent (clean=false) sessions, online or not. */
  sessions: Gauge;
  /** Commands waiting for a result. */
  pendingCommands: Gauge;
  /** Events waiting in the forwarder's buffer. */
  forwarderQueueDepth: Gauge;
  /** process.memoryUsage().heapUsed, read on scrape. */
  heapUsedBytes: Gauge;
  /** Resident set size, read on scrape. */
  rssBytes: Gauge;
  /** process.memoryUsage().external, read on scrape. */
  externalBytes: Gauge;
  /** V8's compiled code and bytecode with metadata, read on scrape. */
  codeBytes: Gauge;
  /** process.memoryUsage().arrayBuffers, read on scrape. */
  arrayBuffersBytes: Gauge;
  messagesIn: Counter<"kind">;
  messagesOut: Counter<"kind">;
  commands: Counter<"outcome">;
  refusals: Counter<"reason">;
  /** Bytes buffered for the edge, by lane (latest, results, events). */
  forwarderBytes: Gauge<"lane">;
  forwarderDropped: Counter<"reason">;
  /** Superseded presence/state values given up (under pressure, or once a newer one was delivered). */
  forwarderCoalesced: Counter;
  forwarderSent: Counter;
  forwarderFailures: Counter;
  invalidPayloads: Counter<"reason">;
  /** Accepted CONNECTs by the fleet secret the password derives from (rotation: watch `previous` fall to 0). */
  authAccepted: Counter<"secret">;
  /** Connected devices disconnected because they were revoked, by where the revocation came from. */
  revokedDisconnects: Counter<"source">;
  /** Results that matched no waiting or queued command, by kind (`late`, `unknown`). */
  unmatchedResults: Counter<"kind">;
  /** The event loop's lag over the last window, the admission control's queueing-time signal. */
  eventLoopLag: Gauge;
  /** Commands admitted by this node's HTTP API and not yet answered. */
  commandsInFlight: Gauge;
  /** The in-flight limit now: the adaptive one (COMMAND_LATENCY_TOLERANCE), else MAX_COMMANDS_IN_FLIGHT. */
  commandsLimit: Gauge;
  /** Commands refused 503 overloaded by the admission control, by reason (`in_flight`, `latency`, `event_loop_lag`). */
  commandsShed: Counter<"reason">;
  commandQueueing: Histogram;
  commandsQueueRefused: Counter;
  /** Time in the broker of each command request (listener to response end), by answer class (issue 17). */
  commandSeconds: Histogram<"answer">;
}

/**
 * Default process metrics (CPU, fds, event-loop lag, GC, heap spaces) describe
 * the process, not a broker, and `collectDefaultMetrics` starts an event-loop
 * histogram and a GC observer on every call that are never stopped. So they are
 * collected once per process into this registry and shared by every instance
 * registry; calling it per broker would leak one observer per broker.
 */
let processRegistry: Registry | undefined;

function sharedProcessRegistry(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

function memoryGauge(
  registry: Registry,
  name: string,
  help: string,
  read: (usage: NodeJS.MemoryUsage) => number,
): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read(process.memoryUsage()));
    },
  });
}

/**
 * Creates the metrics of one broker, all named `tether_*`, plus the process's
 * default metrics (`process_*`, `nodejs_*`).
 *
 * @example
 *   const metrics = createBrokerMetrics();
 *   metrics.commands.inc({ outcome: "ok" });
 *   const text = await metrics.registry.metrics();
 */
export function createBrokerMetrics(): BrokerMetrics {
  // This instance's own metrics live here; `registry` adds the shared process metrics.
  const own = new Registry();
  const registers = [own];
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers });

  const metrics = {
    connections: gauge("tether_connections", "Open MQTT connections"),
    sessions: gauge("tether_sessions", "Persistent MQTT sessions (clean=false), online or offline"),
    pendingCommands: gauge("tether_pending_commands", "Commands waiting for a device's result"),
    forwarderQueueDepth: gauge("tether_forwarder_queue_depth", "Events buffered for the edge"),
    heapUsedBytes: memoryGauge(own, "tether_heap_used_bytes", "V8 heap used", (u) => u.heapUsed),
    rssBytes: memoryGauge(own, "tether_rss_bytes", "Resident set size", (u) => u.rss),
    externalBytes: memoryGauge(
      own,
      "tether_external_bytes",
      "Memory of C++ objects bound to JS",
      (u) => u.external,
    ),
    codeBytes: new Gauge({
      name: "tether_v8_code_bytes",
      help: "V8 compiled code and bytecode with metadata (part of the heap; grows while the JIT warms up, then stops)",
      registers,
      collect() {
        this.set(v8CodeBytes());
      },
    }),
    arrayBuffersBytes: memoryGauge(
      own,
      "tether_array_buffers_bytes",
      "Memory of ArrayBuffers and Buffers",
      (u) => u.arrayBuffers,
    ),
    messagesIn: new Counter({
      name: "tether_messages_in_total",
      help: "MQTT publishes received from devices, by kind",
      labelNames: ["kind"],
      registers,
    }),
    messagesOut: new Counter({
      name: "tether_messages_out_total",
      help: "MQTT publishes sent to devices, by kind",
      labelNames: ["kind"],
      registers,
    }),
    commands: new Counter({
      name: "tether_commands_total",
      help: "Commands by outcome",
      labelNames: ["outcome"],
      registers,
    }),
    refusals: new Counter({
      name: "tether_refusals_total",
      help: "Refused connections, subscriptions and publishes, by reason",
      labelNames: ["reason"],
      registers,
    }),
    forwarderBytes: new Gauge({
      name: "tether_forwarder_buffer_bytes",
      help: "Bytes buffered for the edge, by lane: latest (presence and state, one slot per device), results, events",
      labelNames: ["lane"],
      registers,
    }),
    forwarderDropped: new Counter({
      name: "tether_forwarder_dropped_total",
      help: "Events dropped by the forwarder, by reason: buffer_full (device events only), refused (alone, by the edge), closed, event_too_large, unserializable",
      labelNames: ["reason"],
      registers,
    }),
    forwarderCoalesced: new Counter({
      name: "tether_forwarder_coalesced_total",
      help: "Superseded presence or state values never sent: dropped under pressure, or a newer value of the device was delivered first",
      registers,
    }),
    forwarderSent: new Counter({
      name: "tether_forwarder_sent_total",
      help: "Events delivered to the edge",
      registers,
    }),
    forwarderFailures: new Counter({
      name: "tether_forwarder_failures_total",
      help: "Failed delivery attempts to the edge",
      registers,
    }),
    invalidPayloads: new Counter({
      name: "tether_invalid_payloads_total",
      help: "Device payloads dropped as invalid, by reason",
      labelNames: ["reason"],
      registers,
    }),
    authAccepted: new Counter({
      name: "tether_auth_accepted_total",
      help: "Accepted device CONNECTs by the fleet secret the password derives from (current, previous)",
      labelNames: ["secret"],
      registers,
    }),
    revokedDisconnects: new Counter({
      name: "tether_revoked_disconnects_total",
      help: "Connected devices disconnected because they were revoked, by source (api, redis, config)",
      labelNames: ["source"],
      registers,
    }),
    unmatchedResults: new Counter({
      name: "tether_unmatched_results_total",
      help: "Command results no node was waiting for (kind=late: after its wait ended; unknown)",
      labelNames: ["kind"],
      registers,
    }),
    eventLoopLag: gauge(
      "tether_event_loop_lag_seconds",
      "Mean event-loop lag over the last 100 ms: how long a request waits before the broker reads it; above MAX_EVENT_LOOP_LAG_MS commands are shed",
    ),
    commandsInFlight: gauge(
      "tether_commands_in_flight",
      "Commands admitted by this node's HTTP API and not yet answered (bound MAX_COMMANDS_IN_FLIGHT)",
    ),
    commandsLimit: gauge(
      "tether_commands_limit",
      "Commands this node admits in flight now: the adaptive limit (falls while admitted commands slow down beyond COMMAND_LATENCY_TOLERANCE × their baseline), at most MAX_COMMANDS_IN_FLIGHT",
    ),
    commandSeconds: new Histogram({
      name: "tether_command_http_seconds",
      help: "Time in the broker of each POST …/commands, from Node's request listener to the response's end, by answer (ok: 2xx; refused: 429/503; failed: the rest)",
      labelNames: ["answer"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    commandQueueing: new Histogram({
      name: "tether_command_queue_seconds",
      help: "Queueing time of each answered command: its wait for the result beyond its device's quickest answer of the last 10-20 s (COMMAND_QUEUE_TARGET_MS bounds it)",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    commandsQueueRefused: new Counter({
      name: "tether_commands_queue_refused_total",
      help: "Commands refused 429 rate_limited because their device's commands stood in a queue beyond COMMAND_QUEUE_TARGET_MS for an interval",
      registers,
    }),
    commandsShed: new Counter({
      name: "tether_commands_shed_total",
      help: "Commands refused 503 overloaded by the admission control, by reason (in_flight, latency, event_loop_lag)",
      labelNames: ["reason"],
      registers,
    }),
  };
  return { registry: Registry.merge([sharedProcessRegistry(), own]), ...metrics };
}
