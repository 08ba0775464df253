/**
 * Fleet jobs (issue 16) inside workerd: the progress socket GET /v1/jobs/{id}/ws, who may
 * open it and the frames it streams. The broker is a fetch mock here.
 */
import { env, SELF } from "cloudflare:test";
import { sign } from "hono/jwt";
import { afterEach, describe, expect, it, vi } from "vitest";
import { EDGE, mockBroker } from "./helpers.js";
import { ok, start, targets, until } from "./job-helpers.js";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("GET /v1/jobs/{id}/ws", () => {
  const openJobSocket = (id: string, token: string) =>
    SELF.fetch(`${EDGE}/v1/jobs/${id}/ws?token=${token}`, { headers: { upgrade: "websocket" } });
  const jobsToken = (jobs: string[] | true, secret = env.CLIENT_JWT_SECRET) =>
    sign({ sub: "ops-1", jobs, exp: Math.floor(Date.now() / 1000) + 600 }, secret, "HS256");

  it("streams job frames to the Rails token or a JWT whose jobs claim names the job; refuses others before the upgrade", async () => {
    mockBroker(ok);
    const { body } = await start({ command: { name: "reboot" }, targets: targets(4), ratePerSecond: 2 });
    const refusals = [
      [await openJobSocket(body.id, "nope"), 401],
      [await openJobSocket(body.id, await jobsToken([body.id], "another-secret-another-secret")), 401],
      [await openJobSocket(body.id, await jobsToken(["0".repeat(32)])), 403],
      [await SELF.fetch(`${EDGE}/v1/jobs/${body.id}/ws?token=${env.RAILS_API_TOKEN}`), 426],
    ] as const;
    for (const [res, status] of refusals) expect(res.status).toBe(status);

    for (const token of [env.RAILS_API_TOKEN, await jobsToken([body.id]), await jobsToken(true)]) {
      const res = await openJobSocket(body.id, token);
      expect(res.status).toBe(101);
      res.webSocket?.accept();
      res.webSocket?.close(1000, "done");
    }
    const res = await openJobSocket(body.id, await jobsToken([body.id]));
    const ws = res.webSocket;
    if (!ws) throw new Error("no socket");
    const frames: { type: string; status: string; counts: Record<string, number>; ts: number }[] = [];
    ws.addEventListener("message", (event) => frames.push(JSON.parse(String(event.data))));
    ws.accept();
    await until(
      "the completed frame",
      async () => frames.some((f) => f.status === "completed") || false,
      8_000,
    );
    expect(frames[0]).toMatchObject({ type: "job", id: body.id, total: 4 });
    expect(frames.at(-1)).toMatchObject({
      status: "completed",
      counts: { succeeded: 4, pending: 0 },
      percent: 100,
    });
    // At most one frame per 250 ms, but for the status change.
    const gaps = frames.slice(2, -1).map((f, i) => f.ts - (frames[i + 1]?.ts ?? 0));
    expect(
      gaps.every((gap) => gap >= 250),
      JSON.stringify(frames),
    ).toBe(true);
    ws.close(1000, "done");
  });
});
