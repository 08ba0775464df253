/**
 * Tether device SDK: what router firmware uses to stay connected, answer commands
 * and report state (issue 3). Depends only on mqtt and the protocol module.
 */
export { Backoff, type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";
export { BoundedQueue } from "./bounded-queue.js";
export { type Clock, systemClock } from "./clock.js";
export type { CommandContext, CommandHandler, CommandHandlerOptions } from "./command-dispatcher.js";
export type { DesiredContext, DesiredHandler, DesiredStats } from "./desired-applier.js";
export {
  connectDevice,
  Device,
  type DeviceEvents,
  type DeviceStats,
  type DeviceStatus,
  type EmitOptions,
  type ReportStateOptions,
} from "./device.js";
export type { DeviceOptions, TlsOptions } from "./options.js";
export { ResultCache } from "./result-cache.js";
