/**
 * The real broker's refusals reach Rails through the real edge unchanged (issue 17 item 3):
 * a router holds its commands, so the broker's bound of pending commands per device fills
 * and it answers `429 rate_limited` with `Retry-After`; the edge must pass status, body
 * and header through as the broker gave them. (The broker's `503 overloaded` takes a broker
 * with a tiny MAX_COMMANDS_IN_FLIGHT: test/edge/rails-api.test.ts passes it through in workerd,
 * test/broker/overload.test.ts makes the broker send it.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { bearer, isRecord } from "../../protocol/src/index.js";
import { E2ESystem, edgeFetch, freshId, until } from "./helpers.js";

let e2e: E2ESystem;

beforeAll(async () => {
  e2e = await E2ESystem.shared();
}, 90_000);

afterEach(async () => {
  await e2e.cleanup();
});

afterAll(async () => {
  await e2e?.stop();
}, 30_000);

/** The broker's default bound of commands waiting for one device's result (broker/src/settings.ts). */
const PENDING_PER_DEVICE = 16;

async function post(base: string, token: string, deviceId: string) {
  const response = await edgeFetch(`${base}/v1/devices/${deviceId}/commands`, {
    method: "POST",
    headers: { authorization: bearer(token), "content-type": "application/json" },
    body: JSON.stringify({ name: "hold", timeoutMs: 15_000 }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${response.status} from ${base} is not JSON: ${text.slice(0, 400)}`);
  }
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body };
}

/** The `error` object of an answer in the one error shape, or null. */
const errorOf = (body: unknown) => (isRecord(body) && isRecord(body.error) ? body.error : null);

describe("refusals through the edge", () => {
  it("passes the broker's 429 rate_limited and its Retry-After to Rails unchanged", async () => {
    const id = freshId("refuse");
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const router = await e2e.router(id, (device) =>
      device.command("hold", () => held.then(() => ({ held: true }))),
    );
    await router.whenOnline();
    const { edge, brokerHttp } = e2e.urls;

    // Bound: PENDING_PER_DEVICE + 4 requests; the first PENDING_PER_DEVICE wait for the router.
    const through = Array.from({ length: PENDING_PER_DEVICE + 4 }, () =>
      post(edge, e2e.secrets.RAILS_API_TOKEN, id),
    );
    // The router answers nothing until released, so the only early answers are the 4 beyond
    // the bound. All 4 must be in before the release: a request still on its way through a
    // slow edge would otherwise reach a drained bound and be served (seen on a loaded machine).
    const early: Awaited<(typeof through)[number]>[] = [];
    for (const answer of through) void answer.then((a) => early.push(a)).catch(() => {});
    await until("the 4 requests beyond the bound answered", () => early.length >= 4, 15_000);
    const refusedByEdge = early[0];
    // The broker itself, asked while its bound is still full.
    const direct = await post(brokerHttp, e2e.secrets.BROKER_API_TOKEN, id);
    release();
    const answers = await Promise.all(through);

    expect(direct.status).toBe(429);
    expect(direct.retryAfter).toMatch(/^\d+$/);
    expect(errorOf(direct.body)).toMatchObject({ code: "rate_limited" });
    const refused = answers.filter((a) => a.status === 429);
    expect(refused.length, `statuses: ${answers.map((a) => a.status).join(",")}`).toBe(4);
    expect(refusedByEdge?.status).toBe(429);
    for (const answer of refused) {
      expect(answer.retryAfter).toBe(direct.retryAfter);
      // The router's 429 names the command it refused; the broker's front check (broker/src/http/
      // shed.ts) answers before the body is read, when no command exists yet, so without an id
      // (CONTRACT.md: "plus "id" where a command id exists"). Which one answers depends on timing;
      // either way nothing but the error (and the id) is in the body, and the error is the broker's.
      const { id, ...rest } = isRecord(answer.body) ? answer.body : { id: undefined };
      if (id !== undefined) expect(id).toEqual(expect.any(String));
      expect(rest).toEqual({ error: errorOf(direct.body) });
    }
    expect(answers.filter((a) => a.status === 200)).toHaveLength(PENDING_PER_DEVICE);
  }, 60_000);
});
