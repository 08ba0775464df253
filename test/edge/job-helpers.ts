/**
 * Helpers of the edge's fleet-job tests (jobs.test.ts, job-socket.test.ts): starting a job
 * through the Rails API, reading its view, polling a condition, fresh targets, a broker
 * mock that answers ok, and cancelling what a test started.
 */
import { expect } from "vitest";
import { freshDeviceId, railsRequest } from "./helpers.js";

export const post = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

export interface View {
  id: string;
  status: string;
  total: number;
  counts: Record<string, number>;
  dispatched: number;
}

export async function start(body: unknown, headers: Record<string, string> = {}) {
  const res = await railsRequest("/v1/jobs", post(body, headers));
  return {
    status: res.status,
    body: (await res.json()) as View & { error?: { code: string; message: string } },
  };
}

export async function job(id: string): Promise<View> {
  const res = await railsRequest(`/v1/jobs/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as View;
}

export async function until<T>(what: string, check: () => Promise<T | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const targets = (n: number) => Array.from({ length: n }, () => freshDeviceId());
export const ok = (request: Request, text: string) => {
  const id = (JSON.parse(text) as { id: string }).id;
  return Response.json({ id, ok: true, result: { at: request.url } });
};

export async function cancelAll(ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => railsRequest(`/v1/jobs/${id}/cancel`, { method: "POST" })));
}
