import type { BrokerSettings } from "../context.js";
import { ConnectionAdmission } from "./admission.js";
import { PublishRateLimiter } from "./publish-rate.js";

/** The admission and publish-rate limiters of one node, from its settings. */
export function createLimits(
  settings: BrokerSettings,
  now: () => number,
): { admission: ConnectionAdmission; publishLimiter: PublishRateLimiter } {
  const admission = new ConnectionAdmission(
    {
      maxConnections: settings.maxConnections,
      maxUnauthenticatedPerAddress: settings.maxUnauthenticatedPerAddress,
      authFailureBurst: settings.authFailureBurst,
      authFailuresPerSecond: settings.authFailuresPerSecond,
      authFailureCooldownMs: settings.authFailureCooldownSeconds * 1000,
      maxTrackedAddresses: settings.maxTrackedAddresses,
    },
    now,
  );
  const publishLimiter = new PublishRateLimiter(
    {
      perSecond: settings.devicePublishRate,
      burst: settings.devicePublishBurst,
      floodWindowMs: settings.floodWindowMs,
      floodCooldownMs: settings.deviceFloodCooldownSeconds * 1000,
      maxTrackedDevices: settings.maxTrackedDevices,
      // Room for the results of every command a device can have in flight and queued.
      maxCredit: settings.maxPendingPerDevice + settings.maxQueuedPerDevice,
    },
    now,
  );
  return { admission, publishLimiter };
}
