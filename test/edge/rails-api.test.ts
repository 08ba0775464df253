import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EDGE, freshDeviceId, mockBroker, NO_DESIRED, postEvents, railsRequest } from "./helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

const command = (body: unknown) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

describe("the Rails API", () => {
  it("answers healthz without auth", async () => {
    const res = await SELF.fetch(`${EDGE}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it("answers an unknown API route 404 in the one error shape", async () => {
    const res = await SELF.fetch(`${EDGE}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: "not_found", message: expect.any(String) } });
  });

  it("refuses a missing or wrong Rails token with 401 and never calls the broker", async () => {
    const { calls } = mockBroker(() => Response.json({}));
    const id = freshDeviceId();
    const noToken = await SELF.fetch(`${EDGE}/v1/devices/${id}/commands`, command({ name: "reboot" }));
    const wrong = await railsRequest(`/v1/devices/${id}/commands`, command({ name: "reboot" }), "nope");
    const wrongView = await railsRequest(`/v1/devices/${id}`, {}, `${env.RAILS_API_TOKEN}x`);
    for (const res of [noToken, wrong, wrongView]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    }
    expect(calls).toHaveLength(0);
  });

  it("checks the Rails token before any input: a bad device id or body without the token is 401, not 400", async () => {
    const { calls } = mockBroker(() => Response.json({}));
    const requests = [
      SELF.fetch(`${EDGE}/v1/devices/bad.id/commands`, { method: "POST", body: "not json" }),
      railsRequest("/v1/devices/bad.id", {}, "wrong-token"),
      railsRequest(`/v1/devices/${freshDeviceId()}/commands`, { method: "POST", body: "{" }, "wrong-token"),
    ];
    for (const res of await Promise.all(requests)) {
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: { code: "unauthorized" } });
    }
    expect(calls).toHaveLength(0);
  });

  it("matches the bearer scheme case-insensitively", async () => {
    const id = freshDeviceId();
    for (const scheme of ["bearer", "BEARER", "Bearer"]) {
      const res = await SELF.fetch(`${EDGE}/v1/devices/${id}`, {
        headers: { authorization: `${scheme} ${env.RAILS_API_TOKEN}` },
      });
      expect(res.status, scheme).toBe(200);
    }
  });

  it("answers 502 broker_unavailable, never Rails' own 401, when the broker refuses the edge's token", async () => {
    for (const status of [401, 403]) {
      mockBroker(() => Response.json({ error: { code: "unauthorized", message: "bad token" } }, { status }));
      const res = await railsRequest(`/v1/devices/${freshDeviceId()}/commands`, command({ name: "reboot" }));
      expect(res.status, String(status)).toBe(502);
      expect(await res.json()).toEqual({
        error: { code: "broker_unavailable", message: expect.any(String) },
      });
      vi.restoreAllMocks();
    }
  });

  it("passes the broker's 403 revoked through: it is about the device, not the edge's token", async () => {
    const body = { error: { code: "revoked", message: "device router-x is revoked" } };
    mockBroker(() => Response.json(body, { status: 403 }));
    const res = await railsRequest(`/v1/devices/${freshDeviceId()}/commands`, command({ name: "reboot" }));
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(body);
  });

  it("forwards a command to the broker with the broker token and passes its answer through", async () => {
    const id = freshDeviceId();
    const { calls } = mockBroker(() => Response.json({ id: "c1", ok: true, result: { uptime: 42 } }));
    const res = await railsRequest(
      `/v1/devices/${id}/commands`,
      command({ name: "wifi.scan", params: { band: 5 }, timeoutMs: 2000 }),
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: "c1", ok: true, result: { uptime: 42 } });
    expect(calls).toHaveLength(1);
    const sent = calls[0];
    expect(sent?.url).toBe(`${env.BROKER_URL}/v1/devices/${id}/commands`);
    expect(sent?.method).toBe("POST");
    expect(sent?.authorization).toBe(`Bearer ${env.BROKER_API_TOKEN}`);
    // The edge names the command (a UUID) so that it can report it pending before the broker answers.
    expect(sent?.body).toEqual({
      id: expect.any(String),
      name: "wifi.scan",
      params: { band: 5 },
      timeoutMs: 2000,
    });
  });

  it("passes the broker's refusals through with their status (409, 504, 202)", async () => {
    const id = freshDeviceId();
    const answers = [
      [409, { error: { code: "device_offline", message: "offline" } }],
      [504, { id: "c2", error: { code: "timeout", message: "no answer" } }],
      [202, { id: "c3", queued: true, expiresAt: 123 }],
    ] as const;
    let next = 0;
    mockBroker(() => {
      const [status, body] = answers[next++] ?? [500, {}];
      return Response.json(body, { status });
    });
    for (const [status, body] of answers) {
      const res = await railsRequest(`/v1/devices/${id}/commands`, command({ name: "reboot", queue: true }));
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual(body);
    }
  });

  it("passes the broker's 503 overloaded and 429 through with their Retry-After, unchanged", async () => {
    const id = freshDeviceId();
    const answers = [
      [503, "1", { error: { code: "overloaded", message: "the broker is falling behind; retry later" } }],
      [429, "30", { id: "c4", error: { code: "rate_limited", message: "device already has 100 queued" } }],
    ] as const;
    let next = 0;
    mockBroker(() => {
      const [status, retryAfter, body] = answers[next++] ?? [500, "0", {}];
      return Response.json(body, { status, headers: { "retry-after": retryAfter } });
    });
    for (const [status, retryAfter, body] of answers) {
      const res = await railsRequest(`/v1/devices/${id}/commands`, command({ name: "reboot" }));
      expect(res.status).toBe(status);
      expect(res.headers.get("retry-after")).toBe(retryAfter);
      expect(await res.json()).toEqual(body);
    }
  });

  it("refuses a bad body with 400 invalid_request before calling the broker", async () => {
    const { calls } = mockBroker(() => Response.json({}));
    const id = freshDeviceId();
    const bodies = [
      "not json",
      JSON.stringify({ params: {} }),
      JSON.stringify({ name: "has space" }),
      JSON.stringify({ name: "ok", timeoutMs: 50 }),
      JSON.stringify({ name: "ok", ttlMs: 10 }),
      JSON.stringify({ name: "ok", surprise: true }),
    ];
    for (const body of bodies) {
      const res = await railsRequest(`/v1/devices/${id}/commands`, { method: "POST", body });
      expect(res.status, body).toBe(400);
      expect(await res.json()).toMatchObject({ error: { code: "invalid_request" } });
    }
    expect(calls).toHaveLength(0);
  });

  it("refuses a malformed device id with 400", async () => {
    const res = await railsRequest("/v1/devices/bad.id/commands", command({ name: "reboot" }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: "invalid_request" } });
  });

  it("refuses an oversized command body with 413 payload_too_large", async () => {
    const body = JSON.stringify({ name: "big", params: "x".repeat(70 * 1024) });
    const res = await railsRequest(`/v1/devices/${freshDeviceId()}/commands`, { method: "POST", body });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: "payload_too_large" } });
  });

  it("answers 502 broker_unavailable when the broker cannot be reached", async () => {
    mockBroker(() => {
      throw new TypeError("connect ECONNREFUSED");
    });
    const res = await railsRequest(`/v1/devices/${freshDeviceId()}/commands`, command({ name: "reboot" }));
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      error: { code: "broker_unavailable", message: expect.any(String) },
    });
  });

  it("says the broker did not answer, not that it could not be reached, when the wait runs out", async () => {
    // The broker accepts the request and never answers: the edge's own deadline (the command's
    // timeoutMs + BROKER_GRACE_MS) aborts the call. Seen in the bench when local workerd fell behind.
    mockBroker(
      (request) =>
        new Promise<Response>((_, reject) => {
          request.signal.addEventListener("abort", () => reject(request.signal.reason));
        }),
    );
    const res = await railsRequest(
      `/v1/devices/${freshDeviceId()}/commands`,
      command({ name: "reboot", timeoutMs: 100 }),
    );
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({
      error: { code: "broker_unavailable", message: "the broker did not answer within 5100 ms" },
    });
  }, 15_000);

  it("serves a device's presence and state from its channel without calling the broker", async () => {
    const { calls } = mockBroker(() => Response.json({}));
    const id = freshDeviceId();
    const unseen = await railsRequest(`/v1/devices/${id}`);
    expect(await unseen.json()).toEqual({
      id,
      online: false,
      since: null,
      lastSeen: null,
      state: null,
      ...NO_DESIRED,
    });

    await postEvents({
      events: [
        { deviceId: id, type: "presence", online: true, reason: "connect", ts: 1000 },
        { deviceId: id, type: "state", state: { wan: "up" }, ts: 1500 },
        { deviceId: id, type: "event", name: "client.joined", data: { mac: "aa" }, ts: 2000 },
      ],
    });
    const res = await railsRequest(`/v1/devices/${id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id,
      online: true,
      since: 1000,
      lastSeen: 2000,
      state: { wan: "up" },
      ...NO_DESIRED,
    });
    expect(calls).toHaveLength(0);
  });
});
