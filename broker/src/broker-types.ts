/** The public shapes of one broker node: what `startBroker` takes and what it returns. */
import type { Logger } from "pino";
import type { Clock } from "./clock.js";
import type { BrokerConfig } from "./config.js";
import type { BrokerLimits } from "./context.js";
import type { BrokerMetrics } from "./metrics.js";

export interface BrokerOptions extends Partial<BrokerConfig>, Partial<BrokerLimits> {
  deviceSecret: string;
  brokerApiToken: string;
  /** Injected time: command timeouts, expiresAt, session expiry, the reaper. */
  clock?: Clock;
  /** Default: pino at `logLevel`; tests pass a silent one. */
  logger?: Logger;
  /** For the event forwarder. */
  fetch?: typeof fetch;
}

export interface RunningBroker {
  mqttPort: number;
  httpPort: number;
  mqttUrl: string;
  httpUrl: string;
  nodeId: string;
  metrics: BrokerMetrics;
  /** Live-object counts, for leak tests. */
  stats(): Promise<{
    clients: number;
    persistentSessions: number;
    pendingCommands: number;
    forwarderQueue: number;
    timers: number;
  }>;
  /** Ends now the queued commands past their expiresAt (also done every `commandExpiryIntervalMs`). */
  expireQueuedCommands(): Promise<number>;
  /** Runs the session reaper now. */
  reapExpiredSessions(): Promise<number>;
  /**
   * Redis mode: marks offline now the devices of nodes whose heartbeat is gone
   * (also done every `nodeHeartbeatMs`); resolves with how many this node reported. 0 in memory mode.
   */
  sweepDeadNodes(): Promise<number>;
  /** Graceful: stop accepting, close clients, flush the forwarder, close servers and Redis. */
  close(): Promise<void>;
}
