import { BROKER_CONFIG } from "../../protocol/src/index.js";
import { STANDING_QUEUE_DEFAULTS } from "./commands/standing-queue.js";
import type { BrokerConfig } from "./config.js";
import type { BrokerLimits, BrokerSettings } from "./context.js";
import { DEFAULT_MAX_DESIRED_BYTES } from "./desired/desired-store.js";
import { DEFAULT_FORWARDER_MAX_BYTES } from "./forwarder/options.js";
import { KEEP_ALIVE_DEFAULTS } from "./http/keep-alive.js";
import { ADMISSION_DEFAULTS } from "./limits/command-admission.js";

/**
 * Defaults of startBroker() when called from code (the CLI's come from config.ts). One
 * difference: STATE_DIR is unset here (no roster file), so tests and benches that start
 * brokers side by side in one directory never read each other's online lists.
 */
const DEFAULTS: Omit<BrokerConfig, "deviceSecret" | "brokerApiToken"> & BrokerLimits = {
  mqttPort: BROKER_CONFIG.MQTT_PORT,
  httpPort: BROKER_CONFIG.HTTP_PORT,
  host: "127.0.0.1",
  sessionExpirySeconds: BROKER_CONFIG.SESSION_EXPIRY_SECONDS,
  revokedDevices: [],
  maxPayloadBytes: BROKER_CONFIG.MAX_PAYLOAD_BYTES,
  maxKeepaliveSeconds: 1200,
  connectTimeoutMs: 10_000,
  logLevel: "info",
  memoryLogIntervalSeconds: 60,
  tetherEnv: "development",
  maxConnections: 50_000,
  maxUnauthenticatedPerAddress: 100,
  authFailureBurst: 20,
  authFailureCooldownSeconds: 60,
  devicePublishRate: 20,
  devicePublishBurst: 200,
  deviceFloodCooldownSeconds: 30,
  allowPlainMqtt: false,
  ...KEEP_ALIVE_DEFAULTS,
  ...ADMISSION_DEFAULTS,
  ...STANDING_QUEUE_DEFAULTS,
  authFailuresPerSecond: 0.1,
  maxTrackedAddresses: 100_000,
  maxTrackedDevices: 100_000,
  floodWindowMs: 10_000,
  revocationCheckMs: 2_000,
  logIntervalMs: 10_000,
  forwarderMaxBytes: DEFAULT_FORWARDER_MAX_BYTES,
  maxPendingCommands: 10_000,
  maxPendingPerDevice: 16,
  maxQueuedPerDevice: 100,
  maxQueuedPerSession: 1000,
  reaperIntervalMs: 60_000,
  reaperBatchSize: 500,
  nodeHeartbeatMs: 5_000,
  nodeTtlMs: 15_000,
  redisKeyPrefix: "tether:",
  commandExpiryIntervalMs: 1_000,
  edgeDegradedAfterMs: 15_000,
  maxDesiredBytes: DEFAULT_MAX_DESIRED_BYTES,
};

/** Fills in defaults; `undefined` in `options` means "use the default". */
export function resolveSettings(
  options: Partial<BrokerSettings> & Pick<BrokerConfig, "deviceSecret" | "brokerApiToken">,
): BrokerSettings {
  const defined = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...DEFAULTS, ...defined } as BrokerSettings;
}
