import { BROKER_CONFIG } from "../../../protocol/src/index.js";
import { STANDING_QUEUE_DEFAULTS } from "../commands/standing-queue.js";
import { KEEP_ALIVE_DEFAULTS } from "../http/keep-alive.js";
import { ADMISSION_DEFAULTS } from "../limits/command-admission.js";

/** Keys of BrokerConfig, each settable by one env variable and one flag. */
export type BrokerConfigKey =
  | "mqttPort"
  | "httpPort"
  | "host"
  | "deviceSecret"
  | "brokerApiToken"
  | "edgeEventsUrl"
  | "edgeEventsSecret"
  | "redisUrl"
  | "sessionExpirySeconds"
  | "revokedDevices"
  | "maxPayloadBytes"
  | "tlsCertFile"
  | "tlsKeyFile"
  | "maxKeepaliveSeconds"
  | "connectTimeoutMs"
  | "logLevel"
  | "memoryLogIntervalSeconds"
  | "heapSnapshotDir"
  | "tetherEnv"
  | "deviceSecretPrevious"
  | "maxConnections"
  | "maxUnauthenticatedPerAddress"
  | "authFailureBurst"
  | "authFailureCooldownSeconds"
  | "devicePublishRate"
  | "devicePublishBurst"
  | "deviceFloodCooldownSeconds"
  | "httpTlsCertFile"
  | "httpTlsKeyFile"
  | "httpKeepAliveSeconds"
  | "httpMaxIdleConnections"
  | "allowPlainMqtt"
  | "stateDir"
  | "forwarderMaxBytes"
  | "maxCommandsInFlight"
  | "maxEventLoopLagMs"
  | "commandQueueTargetMs"
  | "commandLatencyTolerance";

export interface Setting {
  key: BrokerConfigKey;
  env: string;
  flag: string;
  /** As text, the way env and flags give it; undefined = unset unless given. */
  default?: string;
  help: string;
  /** Never echoed in error messages. */
  secret?: boolean;
  /**
   * A secret value (not a path): it may also come from a file, `{env}_FILE` or
   * `--{flag}-file`, and a warning is printed when it is given as a flag.
   */
  fromFile?: boolean;
  required?: boolean;
}

/** Every broker setting, in the order --help lists them. */
export const SETTINGS: readonly Setting[] = [
  {
    key: "mqttPort",
    env: "MQTT_PORT",
    flag: "mqtt-port",
    default: String(BROKER_CONFIG.MQTT_PORT),
    help: "MQTT listener port (0 = any free port)",
  },
  {
    key: "httpPort",
    env: "HTTP_PORT",
    flag: "http-port",
    default: String(BROKER_CONFIG.HTTP_PORT),
    help: "HTTP API port: commands, /healthz, /metrics (0 = any free port)",
  },
  { key: "host", env: "HOST", flag: "host", default: "0.0.0.0", help: "Address both listeners bind to" },
  {
    key: "deviceSecret",
    env: "DEVICE_SECRET",
    flag: "device-secret",
    secret: true,
    fromFile: true,
    required: true,
    help: "Fleet secret; a device's password is base64url(HMAC-SHA256(DEVICE_SECRET, deviceId))",
  },
  {
    key: "brokerApiToken",
    env: "BROKER_API_TOKEN",
    flag: "broker-api-token",
    secret: true,
    fromFile: true,
    required: true,
    help: "Bearer token the edge presents to the HTTP API",
  },
  {
    key: "edgeEventsUrl",
    env: "EDGE_EVENTS_URL",
    flag: "edge-events-url",
    help: "Where events are POSTed (the edge's /internal/events); unset = events are not forwarded",
  },
  {
    key: "edgeEventsSecret",
    env: "EDGE_EVENTS_SECRET",
    flag: "edge-events-secret",
    secret: true,
    fromFile: true,
    help: "Signs event batches (Tether-Signature); required with EDGE_EVENTS_URL",
  },
  {
    key: "redisUrl",
    env: "REDIS_URL",
    flag: "redis-url",
    help: "Redis for sessions and pub/sub across broker nodes; unset = in memory, one node",
  },
  {
    key: "sessionExpirySeconds",
    env: "SESSION_EXPIRY_SECONDS",
    flag: "session-expiry-seconds",
    default: String(BROKER_CONFIG.SESSION_EXPIRY_SECONDS),
    help: "A persistent session offline longer than this is reaped",
  },
  {
    key: "revokedDevices",
    env: "REVOKED_DEVICES",
    flag: "revoked-devices",
    default: "",
    help: "Comma-separated device ids refused at CONNECT and disconnected when connected (in Redis mode also added to the shared revocation set at start)",
  },
  {
    key: "maxPayloadBytes",
    env: "MAX_PAYLOAD_BYTES",
    flag: "max-payload-bytes",
    default: String(BROKER_CONFIG.MAX_PAYLOAD_BYTES),
    help: "Largest MQTT payload accepted",
  },
  {
    key: "tlsCertFile",
    env: "TLS_CERT_FILE",
    flag: "tls-cert-file",
    help: "PEM certificate; with TLS_KEY_FILE, MQTT is served over TLS (mqtts)",
  },
  {
    key: "tlsKeyFile",
    env: "TLS_KEY_FILE",
    flag: "tls-key-file",
    secret: true,
    help: "PEM private key for TLS_CERT_FILE",
  },
  {
    key: "maxKeepaliveSeconds",
    env: "MAX_KEEPALIVE_SECONDS",
    flag: "max-keepalive-seconds",
    default: "1200",
    help: "Largest MQTT keepalive a device may ask for; a keepalive of 0 or above it is clamped",
  },
  {
    key: "connectTimeoutMs",
    env: "CONNECT_TIMEOUT_MS",
    flag: "connect-timeout-ms",
    default: "10000",
    help: "A socket that sends no CONNECT within this is closed",
  },
  {
    key: "logLevel",
    env: "LOG_LEVEL",
    flag: "log-level",
    default: "info",
    help: "fatal, error, warn, info, debug, trace or silent",
  },
  {
    key: "memoryLogIntervalSeconds",
    env: "MEMORY_LOG_INTERVAL_SECONDS",
    flag: "memory-log-interval-seconds",
    default: "60",
    help: "Period of the memory log line (RSS, heap, clients, sessions); 0 = off",
  },
  {
    key: "heapSnapshotDir",
    env: "HEAP_SNAPSHOT_DIR",
    flag: "heap-snapshot-dir",
    help: "Where SIGUSR2 writes heap snapshots (they contain secrets: the folder is created 0700, files are 0600, a folder others can read is refused); unset = off",
  },
  {
    key: "tetherEnv",
    env: "TETHER_ENV",
    flag: "tether-env",
    default: "development",
    help: "development or production; production refuses weak or dev- secrets, plain MQTT on a public address (unless ALLOW_PLAIN_MQTT=1) and a plain-http EDGE_EVENTS_URL that is not loopback",
  },
  {
    key: "deviceSecretPrevious",
    env: "DEVICE_SECRET_PREVIOUS",
    flag: "device-secret-previous",
    secret: true,
    fromFile: true,
    help: "The fleet secret being rotated out: passwords derived from it are still accepted (counted as secret=previous in tether_auth_accepted_total); unset = only DEVICE_SECRET",
  },
  {
    key: "maxConnections",
    env: "MAX_CONNECTIONS",
    flag: "max-connections",
    default: "50000",
    help: "Open MQTT sockets (authenticated or not); beyond it a new socket is closed at once (refusal max_connections)",
  },
  {
    key: "maxUnauthenticatedPerAddress",
    env: "MAX_UNAUTHENTICATED_PER_ADDRESS",
    flag: "max-unauthenticated-per-address",
    default: "100",
    help: "Sockets one source address (IPv6: one /64) may hold open before authenticating (refusal unauthenticated_per_address)",
  },
  {
    key: "authFailureBurst",
    env: "AUTH_FAILURE_BURST",
    flag: "auth-failure-burst",
    default: "20",
    help: "Failed CONNECTs (bad credentials) one address may make in a burst, refilled at one per 10 s; then the address is refused for AUTH_FAILURE_COOLDOWN_SECONDS",
  },
  {
    key: "authFailureCooldownSeconds",
    env: "AUTH_FAILURE_COOLDOWN_SECONDS",
    flag: "auth-failure-cooldown-seconds",
    default: "60",
    help: "How long an address that used up its failed CONNECTs is refused (refusal address_cooldown)",
  },
  {
    key: "devicePublishRate",
    env: "DEVICE_PUBLISH_RATE",
    flag: "device-publish-rate",
    default: "20",
    help: "Messages per second one device may publish on average; above it messages are dropped (refusal publish_rate)",
  },
  {
    key: "devicePublishBurst",
    env: "DEVICE_PUBLISH_BURST",
    flag: "device-publish-burst",
    default: "200",
    help: "Messages one device may publish in a burst; more than this many dropped within 10 s disconnects it (refusal publish_flood)",
  },
  {
    key: "deviceFloodCooldownSeconds",
    env: "DEVICE_FLOOD_COOLDOWN_SECONDS",
    flag: "device-flood-cooldown-seconds",
    default: "30",
    help: "How long a device disconnected for flooding is refused at CONNECT (refusal flood_cooldown)",
  },
  {
    key: "httpTlsCertFile",
    env: "HTTP_TLS_CERT_FILE",
    flag: "http-tls-cert-file",
    help: "PEM certificate; with HTTP_TLS_KEY_FILE, the HTTP API is served over HTTPS",
  },
  {
    key: "httpTlsKeyFile",
    env: "HTTP_TLS_KEY_FILE",
    flag: "http-tls-key-file",
    secret: true,
    help: "PEM private key for HTTP_TLS_CERT_FILE",
  },
  {
    key: "httpKeepAliveSeconds",
    env: "HTTP_KEEPALIVE_SECONDS",
    flag: "http-keepalive-seconds",
    default: String(KEEP_ALIVE_DEFAULTS.httpKeepAliveSeconds),
    help: "How long the HTTP API keeps an idle keep-alive connection; above the 900 s for which Cloudflare reuses one, so the edge's side always closes first (a request sent on a connection the broker is closing would be lost)",
  },
  {
    key: "httpMaxIdleConnections",
    env: "HTTP_MAX_IDLE_CONNECTIONS",
    flag: "http-max-idle-connections",
    default: String(KEEP_ALIVE_DEFAULTS.httpMaxIdleConnections),
    help: "Idle HTTP API connections kept at most, counted apart for the edge's (they carried BROKER_API_TOKEN) and everyone else's; beyond it the one of that class idle longest is closed",
  },
  {
    key: "allowPlainMqtt",
    env: "ALLOW_PLAIN_MQTT",
    flag: "allow-plain-mqtt",
    default: "0",
    help: "1 = with TETHER_ENV=production, allow MQTT without TLS on a non-loopback HOST (e.g. TLS ends at a load balancer)",
  },
  {
    key: "stateDir",
    env: "STATE_DIR",
    flag: "state-dir",
    default: ".tether-state",
    help:
      "Memory mode: where the list of online devices survives a restart (online-devices.json); " +
      "after a restart, listed devices that do not reconnect within 1.5 x keepalive are reported offline (broker_restart)",
  },
  {
    key: "forwarderMaxBytes",
    env: "FORWARDER_MAX_BYTES",
    flag: "forwarder-max-bytes",
    default: String(32 * 1024 * 1024),
    help:
      "Bytes of events held for the edge while it is slow or down; beyond it device events are dropped " +
      "(oldest first, fair share per device), never a device's latest state or presence, nor command results",
  },
  {
    key: "maxCommandsInFlight",
    env: "MAX_COMMANDS_IN_FLIGHT",
    flag: "max-commands-in-flight",
    default: String(ADMISSION_DEFAULTS.maxCommandsInFlight),
    help: 'Commands this node has admitted and not yet answered (waiting devices included); beyond it a command is answered 503 overloaded with Retry-After at once (tether_commands_shed_total{reason="in_flight"})',
  },
  {
    key: "maxEventLoopLagMs",
    env: "MAX_EVENT_LOOP_LAG_MS",
    flag: "max-event-loop-lag-ms",
    default: String(ADMISSION_DEFAULTS.maxEventLoopLagMs),
    help: "While the event loop's lag (tether_event_loop_lag_seconds, the time a request waits to be read) is above this, commands are answered 503 overloaded with Retry-After at once (reason event_loop_lag); 0 = off",
  },
  {
    key: "commandQueueTargetMs",
    env: "COMMAND_QUEUE_TARGET_MS",
    flag: "command-queue-target-ms",
    default: String(STANDING_QUEUE_DEFAULTS.commandQueueTargetMs),
    help: "Per device: once every answer of a device has queued longer than this (its wait beyond its quickest answer) for 100 ms, further commands to it are answered 429 rate_limited with Retry-After at once while it has one pending, until an answer comes back within it (tether_commands_queue_refused_total); 0 = off",
  },
  {
    key: "commandLatencyTolerance",
    env: "COMMAND_LATENCY_TOLERANCE",
    flag: "command-latency-tolerance",
    default: String(ADMISSION_DEFAULTS.commandLatencyTolerance),
    help: "The adaptive in-flight limit: every 100 ms, while the median time of admitted commands is more than this many times its baseline (the uncongested median), the limit of commands in flight falls (to half at most), else it grows back towards MAX_COMMANDS_IN_FLIGHT; beyond it a command is answered 503 overloaded with Retry-After at once (reason latency; tether_commands_limit); 0 = off",
  },
];
