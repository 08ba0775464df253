import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EDGE, freshDeviceId, mockBroker, railsRequest } from "./helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the Rails revoke routes", () => {
  it.each(["POST", "DELETE"])(
    "%s /v1/devices/{id}/revoke forwards to the broker with the broker token and passes its answer through",
    async (method) => {
      const id = freshDeviceId();
      const { calls } = mockBroker(() => Response.json({ id, revoked: method === "POST" }));
      const res = await railsRequest(`/v1/devices/${id}/revoke`, { method });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ id, revoked: method === "POST" });
      expect(calls).toEqual([
        {
          url: `${env.BROKER_URL}/v1/devices/${id}/revoke`,
          method,
          authorization: `Bearer ${env.BROKER_API_TOKEN}`,
          body: null,
        },
      ]);
    },
  );

  it("passes the broker's refusal to lift a configured revocation through (409 revoked)", async () => {
    const body = { error: { code: "revoked", message: "listed in REVOKED_DEVICES" } };
    mockBroker(() => Response.json(body, { status: 409 }));
    const res = await railsRequest(`/v1/devices/${freshDeviceId()}/revoke`, { method: "DELETE" });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual(body);
  });

  it("refuses a missing or wrong Rails token with 401 and a bad id with 400, never calling the broker", async () => {
    const { calls } = mockBroker(() => Response.json({}));
    const id = freshDeviceId();
    const noToken = await SELF.fetch(`${EDGE}/v1/devices/${id}/revoke`, { method: "POST" });
    const wrong = await railsRequest(`/v1/devices/${id}/revoke`, { method: "POST" }, "nope");
    for (const res of [noToken, wrong]) {
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    }
    const badId = await railsRequest("/v1/devices/not%20an%20id/revoke", { method: "POST" });
    expect(badId.status).toBe(400);
    expect(calls).toHaveLength(0);
  });

  it("answers 502 broker_unavailable when the broker cannot be reached", async () => {
    mockBroker(() => {
      throw new TypeError("connection refused");
    });
    const res = await railsRequest(`/v1/devices/${freshDeviceId()}/revoke`, { method: "POST" });
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({ error: { code: "broker_unavailable", message: expect.any(String) } });
  });
});
