import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { isDeviceId, MAX_EVENT_BYTES } from "../../protocol/src/index.js";
import { attachDashValues, describeArgvError } from "./config/argv.js";
import { helpText } from "./config/help-text.js";
import { hostProblem } from "./config/host.js";
import { productionProblems } from "./config/production.js";
import { secretSource } from "./config/secret-sources.js";
import { type BrokerConfigKey, SETTINGS, type Setting } from "./config/settings.js";

export { helpText } from "./config/help-text.js";

/** The broker's configuration (CONTRACT.md, "Configuration names", plus operability settings). */
export interface BrokerConfig {
  mqttPort: number;
  httpPort: number;
  host: string;
  deviceSecret: string;
  brokerApiToken: string;
  edgeEventsUrl?: string;
  edgeEventsSecret?: string;
  redisUrl?: string;
  sessionExpirySeconds: number;
  revokedDevices: string[];
  maxPayloadBytes: number;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  maxKeepaliveSeconds: number;
  connectTimeoutMs: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  memoryLogIntervalSeconds: number;
  heapSnapshotDir?: string;
  /** `production` refuses weak secrets and plain transports (config/production.ts). */
  tetherEnv: "development" | "production";
  /** The fleet secret being rotated out; passwords derived from it are still accepted. */
  deviceSecretPrevious?: string;
  maxConnections: number;
  maxUnauthenticatedPerAddress: number;
  authFailureBurst: number;
  authFailureCooldownSeconds: number;
  devicePublishRate: number;
  devicePublishBurst: number;
  deviceFloodCooldownSeconds: number;
  /** With httpTlsKeyFile: the HTTP API over HTTPS. */
  httpTlsCertFile?: string;
  httpTlsKeyFile?: string;
  /** The HTTP API keeps an idle keep-alive connection this long (s): above Cloudflare's 900 s reuse. */
  httpKeepAliveSeconds: number;
  /** At most this many idle HTTP connections; beyond it the one idle longest is closed. */
  httpMaxIdleConnections: number;
  allowPlainMqtt: boolean;
  /** Memory mode: where the online roster survives a restart (devices/online-roster.ts); unset = off. */
  stateDir?: string;
  /** Bytes of events held for the edge while it is slow or down (forwarder). */
  forwarderMaxBytes: number;
  /** Admission control (issue 17): commands in flight on this node; beyond it 503 overloaded. */
  maxCommandsInFlight: number;
  /** Admission control: shed commands while the event loop lags more than this (ms); 0 = off. */
  maxEventLoopLagMs: number;
  /** Admission control per device: refuse while its commands queue beyond this (ms) for an interval; 0 = off. */
  commandQueueTargetMs: number;
  /** Admission control: the in-flight limit falls while commands' median time exceeds this × its baseline; 0 = off. */
  commandLatencyTolerance: number;
}

export type CliCommand =
  | { command: "serve"; config: BrokerConfig; warnings: string[] }
  | { command: "credentials"; deviceId: string; deviceSecret: string; warnings: string[] }
  | { command: "help"; text: string };

/** A configuration the broker refuses to start with; the CLI prints `message` and exits 2. */
export class ConfigError extends Error {
  readonly code = "invalid_config";
  readonly exitCode = 2;
  constructor(
    message: string,
    /** The environment variable at fault, when there is one. */
    readonly variable?: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Secrets shorter than this are too easy to guess for an HMAC key or bearer token. */
const MIN_SECRET_LENGTH = 16;

const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const secret = z
  .string({ error: "is required" })
  .min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters`);

const optionalText = z.string().trim().min(1).optional();

const schema = z.object({
  mqttPort: wholeNumber(0, 65_535),
  httpPort: wholeNumber(0, 65_535),
  host: z
    .string()
    .trim()
    .min(1, "must not be empty")
    .superRefine((host, ctx) => {
      const problem = hostProblem(host);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
  deviceSecret: secret,
  brokerApiToken: secret,
  edgeEventsUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  edgeEventsSecret: secret.optional(),
  redisUrl: z.url({ protocol: /^rediss?$/, error: "must be a redis:// or rediss:// URL" }).optional(),
  sessionExpirySeconds: wholeNumber(1, 31_536_000),
  revokedDevices: z
    .string()
    .transform((list) =>
      list
        .split(",")
        .map((id) => id.trim())
        .filter((id) => id.length > 0),
    )
    .pipe(
      z.array(z.string().refine(isDeviceId, { error: (issue) => `"${issue.input}" is not a device id` })),
    ),
  // 268,435,455 is the largest MQTT 3.1.1 remaining length.
  maxPayloadBytes: wholeNumber(1, 268_435_455),
  tlsCertFile: optionalText,
  tlsKeyFile: optionalText,
  maxKeepaliveSeconds: wholeNumber(1, 65_535),
  connectTimeoutMs: wholeNumber(100, 600_000),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
    error: "must be one of fatal, error, warn, info, debug, trace, silent",
  }),
  memoryLogIntervalSeconds: wholeNumber(0, 86_400),
  heapSnapshotDir: optionalText,
  tetherEnv: z.enum(["development", "production"], { error: "must be development or production" }),
  deviceSecretPrevious: secret.optional(),
  maxConnections: wholeNumber(1, 10_000_000),
  maxUnauthenticatedPerAddress: wholeNumber(1, 1_000_000),
  authFailureBurst: wholeNumber(1, 1_000_000),
  authFailureCooldownSeconds: wholeNumber(0, 86_400),
  devicePublishRate: wholeNumber(1, 1_000_000),
  devicePublishBurst: wholeNumber(1, 1_000_000),
  deviceFloodCooldownSeconds: wholeNumber(0, 86_400),
  httpTlsCertFile: optionalText,
  httpTlsKeyFile: optionalText,
  httpKeepAliveSeconds: wholeNumber(1, 86_400),
  httpMaxIdleConnections: wholeNumber(1, 1_000_000),
  allowPlainMqtt: z
    .enum(["0", "1", "false", "true"], { error: "must be 0 or 1" })
    .transform((value) => value === "1" || value === "true"),
  stateDir: optionalText,
  // At least one event of the largest size fits; at most 4 GiB.
  forwarderMaxBytes: wholeNumber(MAX_EVENT_BYTES, 4 * 1024 ** 3),
  maxCommandsInFlight: wholeNumber(1, 1_000_000),
  maxEventLoopLagMs: wholeNumber(0, 60_000),
  commandQueueTargetMs: wholeNumber(0, 60_000),
  // 0 = off; else above 1 (a limit that shrinks when times merely stay equal would never hold).
  commandLatencyTolerance: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, "must be a number such as 2 or 1.5")
    .transform(Number)
    .pipe(
      z
        .number()
        .max(100, "must be at most 100")
        .refine((value) => value === 0 || value > 1, "must be 0 (off) or above 1"),
    ),
});

const BY_KEY = new Map<string, Setting>(SETTINGS.map((setting) => [setting.key, setting]));

function named(setting: Setting): string {
  return `${setting.env} (--${setting.flag})`;
}

interface RawValues {
  raw: Record<BrokerConfigKey, string | undefined>;
  warnings: string[];
  problems: string[];
}

/** Flags win over env; an empty env value counts as unset; secrets may come from files. */
function rawValues(flags: Record<string, unknown>, env: Record<string, string | undefined>): RawValues {
  const raw: Partial<Record<BrokerConfigKey, string | undefined>> = {};
  const warnings: string[] = [];
  const problems: string[] = [];
  for (const setting of SETTINGS) {
    if (setting.fromFile) {
      const source = secretSource(setting, flags, env);
      raw[setting.key] = source.value ?? setting.default;
      if (source.warning) warnings.push(source.warning);
      if (source.problem) problems.push(source.problem);
      continue;
    }
    const flag = flags[setting.flag];
    const fromEnv = env[setting.env];
    raw[setting.key] =
      typeof flag === "string" ? flag : fromEnv !== undefined && fromEnv !== "" ? fromEnv : setting.default;
  }
  return { raw: raw as Record<BrokerConfigKey, string | undefined>, warnings, problems };
}

function parseSettings(raw: Record<BrokerConfigKey, string | undefined>): BrokerConfig {
  const result = schema.safeParse(raw);
  if (!result.success) {
    // Every problem at once, so a first run does not fail one variable at a time.
    const problems: string[] = [];
    let variable: string | undefined;
    for (const issue of result.error.issues) {
      const setting = BY_KEY.get(String(issue.path[0]));
      if (!setting) {
        problems.push(issue.message);
        continue;
      }
      variable ??= setting.env;
      if (issue.code === "invalid_type" && raw[setting.key] === undefined) {
        problems.push(`${named(setting)} is required: ${setting.help}`);
      } else {
        const shown = setting.secret ? "" : ` (got "${raw[setting.key]}")`;
        problems.push(`${named(setting)} ${issue.message}${shown}`);
      }
    }
    const missing = result.error.issues.some((issue) => issue.code === "invalid_type");
    const hint = missing
      ? "\nSet it in the environment or pass the flag; Tether never invents a secret " +
        "(for local development, generate one with `openssl rand -base64 32`)."
      : "";
    throw new ConfigError(`${problems.join("\n")}${hint}`, variable);
  }
  const config: BrokerConfig = result.data;
  checkPairs(config);
  if (config.tetherEnv === "production") {
    const problems = productionProblems({
      host: config.host,
      secrets: SETTINGS.filter((s) => s.fromFile).map((s) => ({ env: s.env, value: raw[s.key] })),
      mqttTls: Boolean(config.tlsCertFile),
      allowPlainMqtt: config.allowPlainMqtt,
      edgeEventsUrl: config.edgeEventsUrl,
    });
    if (problems.length > 0) {
      throw new ConfigError(`TETHER_ENV=production refuses to start:\n${problems.join("\n")}`, "TETHER_ENV");
    }
  }
  return config;
}

/** Settings that only make sense together, and files that must exist. */
function checkPairs(config: BrokerConfig): void {
  if (config.edgeEventsUrl && !config.edgeEventsSecret) {
    throw new ConfigError(
      "EDGE_EVENTS_URL is set but EDGE_EVENTS_SECRET is not: events to the edge must be signed",
      "EDGE_EVENTS_SECRET",
    );
  }
  if (Boolean(config.tlsCertFile) !== Boolean(config.tlsKeyFile)) {
    const missing = config.tlsCertFile ? "TLS_KEY_FILE" : "TLS_CERT_FILE";
    throw new ConfigError("TLS needs both TLS_CERT_FILE and TLS_KEY_FILE", missing);
  }
  if (Boolean(config.httpTlsCertFile) !== Boolean(config.httpTlsKeyFile)) {
    const missing = config.httpTlsCertFile ? "HTTP_TLS_KEY_FILE" : "HTTP_TLS_CERT_FILE";
    throw new ConfigError("HTTPS needs both HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE", missing);
  }
  for (const [env, file] of [
    ["TLS_CERT_FILE", config.tlsCertFile],
    ["TLS_KEY_FILE", config.tlsKeyFile],
    ["HTTP_TLS_CERT_FILE", config.httpTlsCertFile],
    ["HTTP_TLS_KEY_FILE", config.httpTlsKeyFile],
  ] as const) {
    if (file && !existsSync(file)) throw new ConfigError(`${env}: no such file "${file}"`, env);
  }
}

/**
 * Reads the command line and environment: `serve` (the default), `credentials <deviceId>`, or help.
 * Throws a ConfigError that names the variable at fault.
 *
 * @example
 *   const cli = loadConfig(process.argv.slice(2), process.env);
 *   if (cli.command === "serve") await startBroker(cli.config);
 */
export function loadConfig(argv: string[], env: Record<string, string | undefined>): CliCommand {
  if (argv.includes("--help") || argv.includes("-h") || argv[0] === "help") {
    return { command: "help", text: helpText() };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: attachDashValues(argv, new Set(SETTINGS.map((setting) => setting.flag))),
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        SETTINGS.flatMap((setting) => [
          [setting.flag, { type: "string" as const }],
          ...(setting.fromFile ? [[`${setting.flag}-file`, { type: "string" as const }]] : []),
        ]),
      ),
    });
  } catch (error) {
    const message = describeArgvError(error) ?? (error instanceof Error ? error.message : String(error));
    throw new ConfigError(`${message}. See --help.`);
  }
  const [subcommand = "serve", ...rest] = parsed.positionals;
  const { raw, warnings, problems } = rawValues(parsed.values, env);
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));

  if (subcommand === "credentials") {
    const deviceId = rest[0];
    if (deviceId === undefined || rest.length > 1) {
      throw new ConfigError("usage: credentials <deviceId>");
    }
    if (!isDeviceId(deviceId)) {
      throw new ConfigError(`"${deviceId}" is not a device id: it must match ^[A-Za-z0-9_-]{1,64}$`);
    }
    const deviceSecret = secret.safeParse(raw.deviceSecret);
    if (!deviceSecret.success) {
      const setting = BY_KEY.get("deviceSecret") as Setting;
      throw new ConfigError(
        raw.deviceSecret === undefined
          ? `${named(setting)} is required to derive a device's password`
          : `${named(setting)} must be at least ${MIN_SECRET_LENGTH} characters`,
        setting.env,
      );
    }
    // Always the current secret: DEVICE_SECRET_PREVIOUS is only ever accepted, never issued.
    return { command: "credentials", deviceId, deviceSecret: deviceSecret.data, warnings };
  }
  if (subcommand !== "serve") {
    throw new ConfigError(`unknown command "${subcommand}": use serve (default) or credentials <deviceId>`);
  }
  if (rest.length > 0) throw new ConfigError(`unexpected argument "${rest[0]}". See --help.`);
  return { command: "serve", config: parseSettings(raw), warnings };
}
