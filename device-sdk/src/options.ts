import { BROKER_CONFIG, ErrorCode, isDeviceId, TetherError } from "../../protocol/src/index.js";
import { type BackoffOptions, DEFAULT_BACKOFF } from "./backoff.js";
import { type Clock, systemClock } from "./clock.js";

/**
 * TLS material passed through to mqtt.js for `mqtts://` URLs.
 *
 * @example
 *   connectDevice({ deviceId, password, url: "mqtts://broker:8883", tls: { ca: readFileSync("ca.pem") } });
 */
export interface TlsOptions {
  ca?: string | string[] | Buffer | Buffer[];
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/**
 * What `connectDevice` accepts. Only `deviceId`, `password` and a URL are required.
 *
 * @example
 *   const options: DeviceOptions = { deviceId: "router-0", password, url: "mqtt://127.0.0.1:1883", keepalive: 60 };
 */
export interface DeviceOptions {
  /** `^[A-Za-z0-9_-]{1,64}$`; used as both MQTT client id and username. */
  deviceId: string;
  /** `base64url(HMAC-SHA256(DEVICE_SECRET, deviceId))` — see `devicePassword` in the protocol module. */
  password: string;
  /** One broker URL (`mqtt://host:1883`, `mqtts://…`). */
  url?: string;
  /** Several broker URLs, tried in turn, one per connection attempt. */
  urls?: string[];
  /** MQTT keepalive in seconds (default 30). */
  keepalive?: number;
  /** A connection attempt without CONNACK after this long is abandoned, ms (default 10000). */
  connectTimeoutMs?: number;
  /** Reconnect backoff; see docs/DEVICE-SDK.md for the formula. */
  backoff?: Partial<BackoffOptions>;
  /** Default handler timeout, ms (default 30000); `command(name, fn, { timeoutMs })` overrides it. */
  commandTimeoutMs?: number;
  /** Handlers running at once; a command beyond this is answered `rate_limited` (default 32). */
  maxConcurrentCommands?: number;
  /** Results remembered for redelivered command ids (default 256). */
  resultCacheSize?: number;
  /** Events kept while offline; the oldest is dropped beyond this (default 1000). */
  maxQueuedEvents?: number;
  /** Results kept while offline; the oldest is dropped beyond this (default 256). */
  maxQueuedResults?: number;
  /** Publishes awaiting PUBACK at once, which bounds mqtt.js's own outgoing store (default 32). */
  maxInFlight?: number;
  /** Largest payload the SDK publishes, bytes (default 65536, the broker's MAX_PAYLOAD_BYTES). */
  maxPayloadBytes?: number;
  /** Injected time (default the system clock). */
  clock?: Clock;
  /** Injected randomness in [0, 1) for backoff jitter (default Math.random). */
  random?: () => number;
  tls?: TlsOptions;
}

export interface ResolvedOptions {
  deviceId: string;
  password: string;
  urls: string[];
  keepalive: number;
  connectTimeoutMs: number;
  backoff: BackoffOptions;
  commandTimeoutMs: number;
  maxConcurrentCommands: number;
  resultCacheSize: number;
  maxQueuedEvents: number;
  maxQueuedResults: number;
  maxInFlight: number;
  maxPayloadBytes: number;
  clock: Clock;
  random: () => number;
  tls: TlsOptions | undefined;
}

function invalid(message: string): TetherError {
  return new TetherError(ErrorCode.InvalidRequest, message, { status: 400 });
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  const resolved = value ?? fallback;
  if (!Number.isInteger(resolved) || resolved < min) throw invalid(`${name} must be an integer >= ${min}`);
  return resolved;
}

/**
 * Validates options once and fills defaults; the caller's object is never mutated.
 *
 * @example
 *   const resolved = resolveOptions({ deviceId: "router-0", password, url: "mqtt://127.0.0.1:1883" });
 *   resolved.keepalive; // 30
 */
export function resolveOptions(options: DeviceOptions): ResolvedOptions {
  if (!isDeviceId(options.deviceId)) throw invalid("deviceId must match ^[A-Za-z0-9_-]{1,64}$");
  if (typeof options.password !== "string" || options.password.length === 0) {
    throw invalid("password must be a non-empty string");
  }
  const urls = [...(options.urls ?? []), ...(options.url === undefined ? [] : [options.url])];
  if (urls.length === 0) throw invalid("url or urls is required");
  for (const url of urls) {
    if (!/^(mqtts?|tcp|tls|wss?):\/\//.test(url)) throw invalid(`unsupported broker URL: ${url}`);
  }
  const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  for (const [key, value] of Object.entries(backoff)) {
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw invalid(`backoff.${key} must be a finite number >= 0`);
    }
  }
  if (backoff.multiplier < 1) throw invalid("backoff.multiplier must be >= 1");
  return {
    deviceId: options.deviceId,
    password: options.password,
    urls,
    keepalive: positiveInt("keepalive", options.keepalive, 30, 0),
    connectTimeoutMs: positiveInt("connectTimeoutMs", options.connectTimeoutMs, 10_000),
    backoff,
    commandTimeoutMs: positiveInt("commandTimeoutMs", options.commandTimeoutMs, 30_000),
    maxConcurrentCommands: positiveInt("maxConcurrentCommands", options.maxConcurrentCommands, 32),
    resultCacheSize: positiveInt("resultCacheSize", options.resultCacheSize, 256),
    maxQueuedEvents: positiveInt("maxQueuedEvents", options.maxQueuedEvents, 1_000),
    maxQueuedResults: positiveInt("maxQueuedResults", options.maxQueuedResults, 256),
    maxInFlight: positiveInt("maxInFlight", options.maxInFlight, 32),
    maxPayloadBytes: positiveInt("maxPayloadBytes", options.maxPayloadBytes, BROKER_CONFIG.MAX_PAYLOAD_BYTES),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    tls: options.tls,
  };
}
