import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../edge/src/app.js";
import type { EdgeEnv } from "../../edge/src/env.js";
import { clientToken, EDGE, freshDeviceId } from "./helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

/** Secrets and BROKER_URL as production wants them: 32+ bytes, not dev-, https. */
const strong = {
  TETHER_ENV: "production",
  RAILS_API_TOKEN: "r".repeat(32),
  CLIENT_JWT_SECRET: "c".repeat(40),
  BROKER_API_TOKEN: "b".repeat(32),
  EDGE_EVENTS_SECRET: "e".repeat(32),
  BROKER_URL: "https://broker.example",
};

/** The edge's app with the test bindings overridden (the Durable Objects stay the real ones). */
function requestWith(
  overrides: Partial<Record<keyof EdgeEnv, string>>,
  path = "/healthz",
  init?: RequestInit,
) {
  return app.request(`${EDGE}${path}`, init, { ...env, ...overrides });
}

describe("the edge refuses to serve with weak secrets outside development", () => {
  it("serves with strong secrets and an https BROKER_URL in production", async () => {
    expect((await requestWith(strong)).status).toBe(200);
  });

  it("answers 500 with a generic body, and names the weak setting only in its log", async () => {
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const cases: Array<[Partial<Record<keyof EdgeEnv, string>>, string]> = [
      [{ RAILS_API_TOKEN: "r".repeat(31) }, "RAILS_API_TOKEN is shorter than 32 bytes"],
      [{ CLIENT_JWT_SECRET: `dev-${"x".repeat(40)}` }, "CLIENT_JWT_SECRET is a dev- value"],
      [{ EDGE_EVENTS_SECRET: "" }, "EDGE_EVENTS_SECRET is not set"],
      [{ BROKER_API_TOKEN: "dev-only-broker-api-token" }, "BROKER_API_TOKEN is a dev- value"],
      [{ BROKER_URL: "http://broker.example" }, "BROKER_URL must be https://"],
      [{ TETHER_ENV: "staging" }, "TETHER_ENV must be development or production"],
    ];
    for (const [override, logged] of cases) {
      for (const path of ["/healthz", `/v1/devices/${freshDeviceId()}`, "/internal/events"]) {
        const res = await requestWith({ ...strong, ...override }, path);
        expect(res.status, `${logged} ${path}`).toBe(500);
        const body = await res.json();
        expect(body).toEqual({ error: { code: "internal_error", message: expect.any(String) } });
        expect(JSON.stringify(body)).not.toMatch(/RAILS|CLIENT_JWT|EDGE_EVENTS|BROKER|TETHER_ENV/);
      }
      expect(log.mock.calls.map((call) => String(call[0]))).toContainEqual(expect.stringContaining(logged));
    }
  });

  it("accepts short and dev- secrets and http:// only with TETHER_ENV=development", async () => {
    const dev = {
      TETHER_ENV: "development",
      RAILS_API_TOKEN: "dev-only-rails-token",
      CLIENT_JWT_SECRET: "short",
      BROKER_URL: "http://127.0.0.1:8080",
    };
    expect((await requestWith(dev)).status).toBe(200);
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect((await requestWith({ ...dev, TETHER_ENV: undefined })).status).toBe(500);
  });

  it("checks CLIENT_JWT_MAX_TTL_SECONDS", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect((await requestWith({ ...strong, CLIENT_JWT_MAX_TTL_SECONDS: "3600" })).status).toBe(200);
    expect((await requestWith({ ...strong, CLIENT_JWT_MAX_TTL_SECONDS: "-1" })).status).toBe(500);
  });
});

describe("client tokens in a pinned deployment", () => {
  it("refuses a token from another issuer or for another audience when CLIENT_JWT_ISSUER/AUDIENCE are set", async () => {
    const id = freshDeviceId();
    const pinned = { CLIENT_JWT_ISSUER: "rails.example", CLIENT_JWT_AUDIENCE: "tether-edge" };
    const open = async (claims: Record<string, unknown>) => {
      const token = await clientToken({ devices: [id], ...claims });
      const res = await requestWith(pinned, `/v1/devices/${id}/ws`, {
        headers: { upgrade: "websocket", "sec-websocket-protocol": `tether, ${token}` },
      });
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
      return res.status;
    };
    expect(await open({ iss: "rails.example", aud: "tether-edge" })).toBe(101);
    expect(await open({ iss: "rails.example", aud: ["other", "tether-edge"] })).toBe(101);
    expect(await open({ aud: "tether-edge" })).toBe(401);
    expect(await open({ iss: "evil.example", aud: "tether-edge" })).toBe(401);
    expect(await open({ iss: "rails.example", aud: "other" })).toBe(401);
  });

  it("never writes the query string (and its ?token=) to the log", async () => {
    const token = await clientToken({ devices: ["x"] });
    const spies = (["log", "info", "warn", "error", "debug"] as const).map((level) =>
      vi.spyOn(console, level).mockImplementation(() => {}),
    );
    const id = freshDeviceId();
    await requestWith({}, `/v1/devices/${id}/ws?token=${token}`, { headers: { upgrade: "websocket" } });
    await requestWith({ ...strong, RAILS_API_TOKEN: "weak" }, `/v1/devices/${id}/ws?token=${token}`, {
      headers: { upgrade: "websocket" },
    });
    await requestWith({ CLIENT_JWT_SECRET: "" }, `/v1/devices/${id}/ws?token=${token}`, {
      headers: { upgrade: "websocket" },
    });
    const logged = spies.flatMap((spy) => spy.mock.calls).map((call) => JSON.stringify(call));
    expect(logged.length).toBeGreaterThan(0);
    for (const line of logged) {
      expect(line).not.toContain(token);
      expect(line).not.toContain("token=");
    }
  });
});
