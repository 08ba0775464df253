/** The event forwarder of one node, when the edge's events URL and secret are set. */
import type { Logger } from "pino";
import type { BrokerSettings } from "../context.js";
import { EventForwarder } from "../forwarder.js";
import type { BrokerMetrics } from "../metrics.js";

/** The forwarder to the edge, or undefined when no edge is configured. */
export function createForwarder(
  settings: BrokerSettings,
  logger: Logger,
  metrics: BrokerMetrics,
  injectedFetch: typeof fetch | undefined,
): EventForwarder | undefined {
  return settings.edgeEventsUrl && settings.edgeEventsSecret
    ? new EventForwarder({
        url: settings.edgeEventsUrl,
        secret: settings.edgeEventsSecret,
        logger,
        metrics,
        maxBytes: settings.forwarderMaxBytes,
        degradedAfterMs: settings.edgeDegradedAfterMs,
        ...(injectedFetch ? { fetch: injectedFetch } : {}),
      })
    : undefined;
}
