/** The HTTP command admission of one node and the event-loop lag it reads (issue 17). */
import type { Clock } from "../clock.js";
import type { BrokerSettings } from "../context.js";
import type { BrokerMetrics } from "../metrics.js";
import { ADAPTIVE_LIMIT_DEFAULTS, AdaptiveLimit } from "./adaptive-limit.js";
import { CommandAdmission } from "./command-admission.js";
import { EventLoopLag } from "./event-loop-lag.js";

/** The event-loop lag the admission control sees is the mean over this window. */
const LAG_WINDOW_MS = 100;

/** The lag monitor (start/stop it with the node) and the admission that sheds on it. */
export function createCommandAdmission(
  settings: BrokerSettings,
  metrics: BrokerMetrics,
  clock: Clock,
): { loopLag: EventLoopLag; commandAdmission: CommandAdmission } {
  const loopLag = new EventLoopLag(LAG_WINDOW_MS, (lagMs) => metrics.eventLoopLag.set(lagMs / 1000));
  const adaptive =
    settings.commandLatencyTolerance > 0
      ? new AdaptiveLimit({
          ...ADAPTIVE_LIMIT_DEFAULTS,
          max: settings.maxCommandsInFlight,
          min: Math.min(ADAPTIVE_LIMIT_DEFAULTS.minLimit, settings.maxCommandsInFlight),
          tolerance: settings.commandLatencyTolerance,
          // The injected clock, as the per-device queueing rule's: tests move it, never sleep.
          now: () => clock.now(),
          onLimit: (limit) => metrics.commandsLimit.set(limit),
        })
      : undefined;
  const commandAdmission = new CommandAdmission({
    maxInFlight: settings.maxCommandsInFlight,
    maxLagMs: settings.maxEventLoopLagMs,
    lagMs: () => loopLag.sustainedLagMs,
    onChange: (inFlight) => metrics.commandsInFlight.set(inFlight),
    ...(adaptive ? { adaptive } : {}),
  });
  metrics.commandsLimit.set(adaptive?.limit ?? settings.maxCommandsInFlight);
  return { loopLag, commandAdmission };
}
