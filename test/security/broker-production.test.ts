/**
 * Issue 10 §8, production posture: TETHER_ENV=production refuses to start with
 * weak or development secrets, plain MQTT on a public address, or a plain-http
 * EDGE_EVENTS_URL; secrets may come from files and a secret on the command line
 * is warned about; the HTTP API can serve HTTPS; heap snapshots stay private.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../broker/src/config.js";
import { installHeapSnapshotOnSignal } from "../../broker/src/diagnostics/index.js";
import { bearer } from "../../protocol/src/index.js";
import { hasOpenssl, selfSignedCertificate } from "../broker/certificates.js";
import { API_TOKEN, cleanupAll, onCleanup, startTestBroker } from "../broker/helpers.js";

afterEach(cleanupAll);

const STRONG = {
  DEVICE_SECRET: "k3Jx9Qv2LmP8sT4wZ7yB1nC6dF0gH5jR",
  BROKER_API_TOKEN: "Xq7Lm2Nv9Bc4Zt6Wy1Ks8Hd3Jf5Gp0Ra",
};

function refusal(argv: string[], env: Record<string, string>): string {
  try {
    loadConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected the broker to refuse this configuration");
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tether-security-"));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("TETHER_ENV=production", () => {
  const production = { TETHER_ENV: "production", HOST: "127.0.0.1", ...STRONG };

  it("starts with strong secrets on loopback, and defaults to development", () => {
    expect(loadConfig([], production)).toMatchObject({
      command: "serve",
      config: { tetherEnv: "production" },
    });
    expect(loadConfig([], { ...STRONG, DEVICE_SECRET: "dev-short-but-16-chars" })).toMatchObject({
      config: { tetherEnv: "development" },
    });
  });

  it("refuses secrets shorter than 32 characters or starting with dev-, naming each", () => {
    const message = refusal([], {
      ...production,
      DEVICE_SECRET: "only-twenty-characters",
      BROKER_API_TOKEN: `dev-${"x".repeat(40)}`,
      EDGE_EVENTS_URL: "https://edge.example.com/internal/events",
      EDGE_EVENTS_SECRET: "another-short-secret",
    });
    expect(message).toContain("DEVICE_SECRET must be at least 32 characters");
    expect(message).toContain('BROKER_API_TOKEN starts with "dev-"');
    expect(message).toContain("EDGE_EVENTS_SECRET must be at least 32 characters");
    expect(message).not.toContain("only-twenty-characters");
  });

  it("refuses plain MQTT on a public address unless ALLOW_PLAIN_MQTT=1", () => {
    expect(refusal([], { ...production, HOST: "0.0.0.0" })).toContain("MQTT without TLS on 0.0.0.0");
    expect(loadConfig([], { ...production, HOST: "0.0.0.0", ALLOW_PLAIN_MQTT: "1" }).command).toBe("serve");
  });

  it("refuses a plain-http EDGE_EVENTS_URL that is not loopback", () => {
    const edge = { EDGE_EVENTS_SECRET: "e".repeat(32) };
    expect(
      refusal([], { ...production, ...edge, EDGE_EVENTS_URL: "http://edge.example.com/internal/events" }),
    ).toContain("EDGE_EVENTS_URL is plain http to edge.example.com");
    const local = { ...production, ...edge, EDGE_EVENTS_URL: "http://127.0.0.1:8787/internal/events" };
    expect(loadConfig([], local).command).toBe("serve");
  });
});

describe("secrets", () => {
  it("come from *_FILE variables and --*-file flags, one trailing newline dropped", () => {
    const dir = tempDir();
    const deviceFile = join(dir, "device-secret");
    const tokenFile = join(dir, "token");
    writeFileSync(deviceFile, `${STRONG.DEVICE_SECRET}\n`);
    writeFileSync(tokenFile, STRONG.BROKER_API_TOKEN);
    const cli = loadConfig(["--broker-api-token-file", tokenFile], { DEVICE_SECRET_FILE: deviceFile });
    expect(cli).toMatchObject({
      command: "serve",
      config: { deviceSecret: STRONG.DEVICE_SECRET, brokerApiToken: STRONG.BROKER_API_TOKEN },
      warnings: [],
    });
  });

  it("refuses a value and a file for the same secret, and an unreadable file", () => {
    const both = refusal([], { ...STRONG, DEVICE_SECRET_FILE: "/etc/hostname" });
    expect(both).toContain("set DEVICE_SECRET or DEVICE_SECRET_FILE, not both");
    const missing = refusal([], {
      BROKER_API_TOKEN: STRONG.BROKER_API_TOKEN,
      DEVICE_SECRET_FILE: "/nonexistent/s",
    });
    expect(missing).toContain('DEVICE_SECRET_FILE: cannot read "/nonexistent/s" (ENOENT)');
  });

  it("warn when given as a command-line flag", () => {
    const cli = loadConfig(["--device-secret", STRONG.DEVICE_SECRET], {
      BROKER_API_TOKEN: STRONG.BROKER_API_TOKEN,
    });
    expect(cli.command === "serve" ? cli.warnings : []).toEqual([
      expect.stringContaining("--device-secret puts a secret on the command line"),
    ]);
  });
});

describe("heap snapshots", () => {
  it("refuse a folder that group or others can read", () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const logger = pino({ level: "silent" });
    expect(() => installHeapSnapshotOnSignal({ dir, keep: 1, logger })).toThrow(/open to group or others/);
    expect(process.listenerCount("SIGUSR2")).toBe(0);
  });
});

describe.skipIf(!hasOpenssl)(
  "the HTTP API over HTTPS (skipped: no openssl binary to issue a test certificate)",
  () => {
    it("serves HTTPS with HTTP_TLS_CERT_FILE and HTTP_TLS_KEY_FILE", async () => {
      const { certFile, keyFile } = selfSignedCertificate();
      const broker = await startTestBroker({ httpTlsCertFile: certFile, httpTlsKeyFile: keyFile });
      expect(broker.httpUrl).toMatch(/^https:\/\//);
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          `${broker.httpUrl}/v1/devices/router-1`,
          { ca: readFileSync(certFile), headers: { authorization: bearer(API_TOKEN) } },
          (res) => {
            let body = "";
            res.on("data", (chunk: Buffer) => {
              body += chunk.toString();
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ id: "router-1", online: false });
    });
  },
);
