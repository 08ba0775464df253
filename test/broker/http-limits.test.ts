import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { bearer } from "../../protocol/src/index.js";
import { API_TOKEN, cleanupAll, deviceId, startTestBroker } from "./helpers.js";

afterEach(cleanupAll);

/** POSTs `body` to the command route, either with Content-Length or chunked (no length up front). */
function post(
  url: string,
  body: string,
  framing: "content-length" | "chunked",
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      authorization: bearer(API_TOKEN),
      "content-type": "application/json",
    };
    if (framing === "content-length") headers["content-length"] = String(Buffer.byteLength(body));
    const req = request(url, { method: "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on("error", reject);
    if (framing === "chunked") {
      // Two writes before end() make Node send Transfer-Encoding: chunked.
      req.write(body.slice(0, body.length / 2));
      req.write(body.slice(body.length / 2));
    } else {
      req.write(body);
    }
    req.end();
  });
}

describe("HTTP body limits of the command API", () => {
  for (const framing of ["content-length", "chunked"] as const) {
    it(`refuses a body above MAX_PAYLOAD_BYTES with 413 payload_too_large (${framing})`, async () => {
      const broker = await startTestBroker({ maxPayloadBytes: 1024 });
      const url = `${broker.httpUrl}/v1/devices/${deviceId()}/commands`;
      const big = JSON.stringify({ name: "ping", params: { blob: "x".repeat(4096) } });
      const answer = await post(url, big, framing);
      expect(answer.status).toBe(413);
      expect(answer.body).toEqual({ error: { code: "payload_too_large", message: expect.any(String) } });
    });

    it(`reads a body within the limit and validates it (${framing})`, async () => {
      const broker = await startTestBroker({ maxPayloadBytes: 1024 });
      const url = `${broker.httpUrl}/v1/devices/${deviceId()}/commands`;
      const offline = await post(url, JSON.stringify({ name: "ping" }), framing);
      expect(offline.status).toBe(409);
      expect(offline.body).toMatchObject({ error: { code: "device_offline" } });
      const bad = await post(url, "{not json", framing);
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ error: { code: "invalid_request" } });
    });
  }
});
