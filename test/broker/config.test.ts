import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { STANDING_QUEUE_DEFAULTS } from "../../broker/src/commands/standing-queue.js";
import { bindHostError } from "../../broker/src/config/host.js";
import { ConfigError, loadConfig } from "../../broker/src/config.js";
import { ADMISSION_DEFAULTS } from "../../broker/src/limits/command-admission.js";

const SECRETS = {
  DEVICE_SECRET: "device-secret-0123456789",
  BROKER_API_TOKEN: "broker-token-0123456789",
};

function serve(argv: string[], env: Record<string, string | undefined> = {}) {
  const result = loadConfig(argv, { ...SECRETS, ...env });
  if (result.command !== "serve") throw new Error(`expected serve, got ${result.command}`);
  return result.config;
}

function failure(argv: string[], env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("fills the contract's defaults when only the two required secrets are set", () => {
    expect(serve([])).toEqual({
      mqttPort: 1883,
      httpPort: 8080,
      host: "0.0.0.0",
      deviceSecret: SECRETS.DEVICE_SECRET,
      brokerApiToken: SECRETS.BROKER_API_TOKEN,
      sessionExpirySeconds: 86_400,
      revokedDevices: [],
      maxPayloadBytes: 65_536,
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
      httpKeepAliveSeconds: 905,
      httpMaxIdleConnections: 1000,
      allowPlainMqtt: false,
      stateDir: ".tether-state",
      forwarderMaxBytes: 32 * 1024 * 1024,
      maxCommandsInFlight: ADMISSION_DEFAULTS.maxCommandsInFlight,
      maxEventLoopLagMs: ADMISSION_DEFAULTS.maxEventLoopLagMs,
      commandQueueTargetMs: STANDING_QUEUE_DEFAULTS.commandQueueTargetMs,
      commandLatencyTolerance: ADMISSION_DEFAULTS.commandLatencyTolerance,
    });
  });

  it("reads every setting from the environment", () => {
    const config = serve([], {
      MQTT_PORT: "0",
      HTTP_PORT: "9090",
      HOST: "127.0.0.1",
      EDGE_EVENTS_URL: "http://127.0.0.1:8787/internal/events",
      EDGE_EVENTS_SECRET: "edge-secret-0123456789",
      REDIS_URL: "redis://127.0.0.1:6379",
      SESSION_EXPIRY_SECONDS: "5",
      REVOKED_DEVICES: " router-1, router_2 ,,",
      MAX_PAYLOAD_BYTES: "1024",
      MAX_KEEPALIVE_SECONDS: "300",
      CONNECT_TIMEOUT_MS: "2000",
      LOG_LEVEL: "debug",
      MEMORY_LOG_INTERVAL_SECONDS: "0",
      HEAP_SNAPSHOT_DIR: "/tmp/snapshots",
      COMMAND_QUEUE_TARGET_MS: "7",
    });
    expect(config).toMatchObject({
      mqttPort: 0,
      httpPort: 9090,
      host: "127.0.0.1",
      edgeEventsUrl: "http://127.0.0.1:8787/internal/events",
      edgeEventsSecret: "edge-secret-0123456789",
      redisUrl: "redis://127.0.0.1:6379",
      sessionExpirySeconds: 5,
      revokedDevices: ["router-1", "router_2"],
      maxPayloadBytes: 1024,
      maxKeepaliveSeconds: 300,
      connectTimeoutMs: 2000,
      logLevel: "debug",
      memoryLogIntervalSeconds: 0,
      heapSnapshotDir: "/tmp/snapshots",
      commandQueueTargetMs: 7,
    });
  });

  it("lets a --kebab-case flag win over its environment variable, in both flag spellings", () => {
    const config = serve(["--mqtt-port", "2883", "--http-port=0", "--log-level", "warn"], {
      MQTT_PORT: "1999",
      HTTP_PORT: "9999",
      LOG_LEVEL: "debug",
    });
    expect(config).toMatchObject({ mqttPort: 2883, httpPort: 0, logLevel: "warn" });
    expect(serve(["--device-secret", "flag-secret-0123456789"]).deviceSecret).toBe("flag-secret-0123456789");
  });

  it("treats an empty environment variable as unset", () => {
    expect(serve([], { MQTT_PORT: "", EDGE_EVENTS_URL: "" })).toMatchObject({ mqttPort: 1883 });
    expect(serve([], { EDGE_EVENTS_URL: "" }).edgeEventsUrl).toBeUndefined();
  });

  it("says which required secrets are missing, and that none is invented", () => {
    const error = failure([], {});
    expect(error.exitCode).toBe(2);
    expect(error.variable).toBe("DEVICE_SECRET");
    expect(error.message).toContain("DEVICE_SECRET (--device-secret) is required");
    expect(error.message).toContain("BROKER_API_TOKEN (--broker-api-token) is required");
    expect(error.message).toContain("never invents");
  });

  it.each([
    ["MQTT_PORT", "http", "must be a whole number"],
    ["HTTP_PORT", "70000", "must be at most 65535"],
    ["SESSION_EXPIRY_SECONDS", "0", "must be at least 1"],
    ["MAX_PAYLOAD_BYTES", "-5", "must be a whole number"],
    ["LOG_LEVEL", "loud", "must be one of"],
    ["REVOKED_DEVICES", "ok-1,not ok", '"not ok" is not a device id'],
    ["REDIS_URL", "http://127.0.0.1:6379", "redis://"],
    ["EDGE_EVENTS_URL", "ftp://edge", "http(s) URL"],
    ["BROKER_API_TOKEN", "short", "at least 16 characters"],
  ])("refuses %s=%s with a message naming the variable", (name, value, message) => {
    const error = failure([], { ...SECRETS, EDGE_EVENTS_SECRET: "edge-secret-0123456789", [name]: value });
    expect(error.variable).toBe(name);
    expect(error.message).toContain(name);
    expect(error.message).toContain(message);
  });

  it("never echoes a secret's value in an error", () => {
    const error = failure([], { ...SECRETS, BROKER_API_TOKEN: "tiny-secret" });
    expect(error.message).not.toContain("tiny-secret");
  });

  it("refuses EDGE_EVENTS_URL without EDGE_EVENTS_SECRET: events must be signed", () => {
    const error = failure([], { ...SECRETS, EDGE_EVENTS_URL: "http://127.0.0.1:8787/internal/events" });
    expect(error.variable).toBe("EDGE_EVENTS_SECRET");
  });

  it("refuses half a TLS configuration and a certificate file that does not exist", () => {
    expect(failure([], { ...SECRETS, TLS_CERT_FILE: "/no/such/cert.pem" }).variable).toBe("TLS_KEY_FILE");
    const missing = failure(
      ["--tls-cert-file", "/no/such/cert.pem", "--tls-key-file", "/no/such/key.pem"],
      SECRETS,
    );
    expect(missing.variable).toBe("TLS_CERT_FILE");
    expect(missing.message).toContain("/no/such/cert.pem");
  });

  it("refuses unknown flags and commands", () => {
    expect(failure(["--mqtt-prot", "1"], SECRETS).message).toContain("--mqtt-prot");
    expect(failure(["start"], SECRETS).message).toContain('unknown command "start"');
  });

  it("says what is wrong with a flag in its own words, not Node's parser's (issue 13)", () => {
    const negative = failure(["--mqtt-port", "-5"], SECRETS);
    expect(negative.message).toContain('MQTT_PORT (--mqtt-port) must be a whole number (got "-5")');
    expect(negative.message).not.toContain("ambiguous");
    expect(failure(["--host", "999.1.1.1"], SECRETS).message).toContain(
      'HOST (--host) is not an IP address (each of the four numbers is 0-255) (got "999.1.1.1")',
    );
    expect(failure(["--host", "bad host!"], SECRETS).message).toContain(
      "neither an IP address nor a host name",
    );
    expect(failure(["--mqtt-port"], SECRETS).message).toBe("--mqtt-port needs a value. See --help.");
    expect(failure(["--mqtt-prot", "1"], SECRETS).message).toBe("unknown option --mqtt-prot. See --help.");
    expect(serve(["--host", "::1"]).host).toBe("::1");
    expect(serve(["--host", "localhost"]).host).toBe("localhost");
  });

  it("names a host that is not this machine's by the error binding it gives", async () => {
    const bindError = (host: string) =>
      new Promise<unknown>((resolve) => {
        const server = createServer();
        server.once("error", resolve);
        server.listen({ port: 0, host }, () => server.close(() => resolve(null)));
      });
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never an address of this machine.
    expect(bindHostError(await bindError("192.0.2.1"))).toBe(
      "is not an address of this machine (EADDRNOTAVAIL)",
    );
    expect(bindHostError(await bindError("no-such-host.invalid"))).toMatch(/^does not resolve to an address/);
    expect(bindHostError(await bindError("127.0.0.1"))).toBeUndefined();
  });

  it("credentials validates the device id and needs only DEVICE_SECRET", () => {
    expect(loadConfig(["credentials", "router-7"], { DEVICE_SECRET: SECRETS.DEVICE_SECRET })).toEqual({
      command: "credentials",
      deviceId: "router-7",
      deviceSecret: SECRETS.DEVICE_SECRET,
      warnings: [],
    });
    expect(failure(["credentials", "router/7"], SECRETS).message).toContain("not a device id");
    expect(failure(["credentials"], SECRETS).message).toContain("usage: credentials <deviceId>");
    expect(failure(["credentials", "router-7"], {}).variable).toBe("DEVICE_SECRET");
  });

  it("--help lists every contract name with its flag, the defaults and the credentials command", () => {
    const result = loadConfig(["--help"], {});
    expect(result.command).toBe("help");
    const text = result.command === "help" ? result.text : "";
    const names = [
      ["MQTT_PORT", "--mqtt-port"],
      ["HTTP_PORT", "--http-port"],
      ["HOST", "--host"],
      ["DEVICE_SECRET", "--device-secret"],
      ["BROKER_API_TOKEN", "--broker-api-token"],
      ["EDGE_EVENTS_URL", "--edge-events-url"],
      ["EDGE_EVENTS_SECRET", "--edge-events-secret"],
      ["REDIS_URL", "--redis-url"],
      ["SESSION_EXPIRY_SECONDS", "--session-expiry-seconds"],
      ["REVOKED_DEVICES", "--revoked-devices"],
      ["MAX_PAYLOAD_BYTES", "--max-payload-bytes"],
      ["TLS_CERT_FILE", "--tls-cert-file"],
      ["TLS_KEY_FILE", "--tls-key-file"],
      ["MAX_KEEPALIVE_SECONDS", "--max-keepalive-seconds"],
      ["CONNECT_TIMEOUT_MS", "--connect-timeout-ms"],
      ["LOG_LEVEL", "--log-level"],
      ["MEMORY_LOG_INTERVAL_SECONDS", "--memory-log-interval-seconds"],
      ["HEAP_SNAPSHOT_DIR", "--heap-snapshot-dir"],
      ["TETHER_ENV", "--tether-env"],
      ["DEVICE_SECRET_PREVIOUS", "--device-secret-previous"],
      ["MAX_CONNECTIONS", "--max-connections"],
      ["MAX_UNAUTHENTICATED_PER_ADDRESS", "--max-unauthenticated-per-address"],
      ["AUTH_FAILURE_BURST", "--auth-failure-burst"],
      ["AUTH_FAILURE_COOLDOWN_SECONDS", "--auth-failure-cooldown-seconds"],
      ["DEVICE_PUBLISH_RATE", "--device-publish-rate"],
      ["DEVICE_PUBLISH_BURST", "--device-publish-burst"],
      ["DEVICE_FLOOD_COOLDOWN_SECONDS", "--device-flood-cooldown-seconds"],
      ["HTTP_TLS_CERT_FILE", "--http-tls-cert-file"],
      ["HTTP_TLS_KEY_FILE", "--http-tls-key-file"],
      ["HTTP_KEEPALIVE_SECONDS", "--http-keepalive-seconds"],
      ["HTTP_MAX_IDLE_CONNECTIONS", "--http-max-idle-connections"],
      ["ALLOW_PLAIN_MQTT", "--allow-plain-mqtt"],
    ];
    for (const [env, flag] of names) {
      expect(text).toMatch(new RegExp(`${flag} <value>\\n\\s+${env};`));
    }
    expect(text).toContain("MQTT_PORT; default 1883");
    expect(text).toContain("SESSION_EXPIRY_SECONDS; default 86400");
    expect(text).toContain("credentials <deviceId>");
    expect(text).toContain("DEVICE_SECRET_FILE");
    // Help wins even when the rest of the command line is wrong.
    expect(loadConfig(["--bogus", "-h"], {}).command).toBe("help");
  });
});
