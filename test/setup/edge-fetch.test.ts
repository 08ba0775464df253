/**
 * The e2e helper that sends a request again when wrangler's dev proxy dropped it
 * (test/e2e/edge-fetch.ts): it must resend only for that exact answer, never hide one of
 * the edge's own 503s, and give up after two resends.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { edgeFetch } from "../e2e/edge-fetch.js";

const WRANGLER_503 =
  "Your worker restarted mid-request. Please try sending the request again. Only GET or HEAD requests are retried automatically.";

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  vi.restoreAllMocks();
});

/** A server answering request n with answers[n] (the last one repeats); it records the bodies it got. */
async function serve(answers: Array<{ status: number; type: string; body: string }>) {
  const bodies: string[] = [];
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on("end", () => {
      const answer = answers[Math.min(bodies.length, answers.length - 1)];
      bodies.push(body);
      response.writeHead(answer?.status ?? 500, { "content-type": answer?.type ?? "text/plain" });
      response.end(answer?.body ?? "");
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/internal/events`, bodies };
}

const dropped = { status: 503, type: "text/plain;charset=UTF-8", body: WRANGLER_503 };
const post = { method: "POST", body: '{"batchId":"b"}' };

describe("edgeFetch", () => {
  it("sends a POST again after wrangler's dev-proxy 503, with the same body, and says so", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const { url, bodies } = await serve([dropped, { status: 401, type: "application/json", body: "{}" }]);
    const response = await edgeFetch(url, post);
    expect(response.status).toBe(401);
    expect(bodies).toEqual([post.body, post.body]);
    expect(warn).toHaveBeenCalledOnce();
    expect(String(warn.mock.calls[0]?.[0])).toContain("POST /internal/events");
  });

  it("returns the edge's own 503 overloaded as it came, unsent again", async () => {
    const overloaded = {
      status: 503,
      type: "application/json",
      body: '{"error":{"code":"overloaded","message":"retry"}}',
    };
    const { url, bodies } = await serve([overloaded]);
    const response = await edgeFetch(url, post);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ error: { code: "overloaded", message: "retry" } });
    expect(bodies).toHaveLength(1);
  });

  it("gives up after two resends and returns the third dev-proxy 503 unread", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const { url, bodies } = await serve([dropped]);
    const response = await edgeFetch(url, post);
    expect(response.status).toBe(503);
    expect(await response.text()).toBe(WRANGLER_503);
    expect(bodies).toHaveLength(3);
  });

  it("refuses a body it could not send again", async () => {
    await expect(
      edgeFetch("http://127.0.0.1:9/", { method: "POST", body: new Uint8Array(1) }),
    ).rejects.toThrow(TypeError);
  });
});
