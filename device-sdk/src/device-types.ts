/** The public types of a `Device`: its status, events, stats and call options. */
import type { DispatcherStats } from "./command-dispatcher.js";
import type { DesiredStats } from "./desired-applier.js";
import type { OutboxStats } from "./outbox.js";

export type DeviceStatus = "connecting" | "online" | "reconnecting" | "closed";

/** Events of a `Device`, with their listener arguments. */
export type DeviceEvents = {
  /** Connected and subscribed to its commands and desired topics. */
  online: [info: { url: string; sessionPresent: boolean }];
  /** Was online, is not any more (also on close()). */
  offline: [info: { reason: string }];
  /** A reconnect attempt is scheduled after `delayMs`. */
  reconnecting: [info: { attempt: number; delayMs: number; url: string }];
  /** Transport errors, refused connections, malformed commands without an id. */
  error: [error: Error];
};

export interface DeviceStats extends DispatcherStats, OutboxStats, DesiredStats {
  status: DeviceStatus;
  /** Successful connections (CONNACK + SUBACK), the first one included. */
  connects: number;
  /** Losses of an established connection. */
  disconnects: number;
  /** Connection attempts, the first one included. */
  connectAttempts: number;
  errors: number;
}

export interface ReportStateOptions {
  /** Replace the whole state instead of merging the top-level keys (default false). */
  replace?: boolean;
}

export interface EmitOptions {
  /** 1 (default): queued while offline and retried; 0: sent at most once. */
  qos?: 0 | 1;
}
